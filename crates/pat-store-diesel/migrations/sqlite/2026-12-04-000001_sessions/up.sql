-- Browser sessions, kept in the database so any instance serves any session and a
-- restart signs nobody out. Only the SHA-256 digest of the cookie's secret is stored.
CREATE TABLE sessions (
    digest       TEXT   PRIMARY KEY NOT NULL,
    user_id      TEXT   NOT NULL,
    created_at   BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id, created_at);
-- The sweep finds expired and idle sessions by these.
CREATE INDEX sessions_created ON sessions (created_at);
CREATE INDEX sessions_last_seen ON sessions (last_seen_at);

-- One-time set-password links (24 hours, single use); the digest of the secret only.
CREATE TABLE password_links (
    digest     TEXT   PRIMARY KEY NOT NULL,
    user_id    TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);

-- Sign-in and leak-report attempts per client address, in windows that start with
-- the address's first attempt; shared by every instance.
CREATE TABLE attempt_counts (
    counter_key  TEXT    PRIMARY KEY NOT NULL,
    window_start BIGINT  NOT NULL,
    hits         INTEGER NOT NULL
);
CREATE INDEX attempt_counts_start ON attempt_counts (window_start);

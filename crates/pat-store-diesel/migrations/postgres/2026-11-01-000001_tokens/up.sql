-- Users, tokens, scopes and settings. Times are microseconds since the Unix epoch
-- (UTC); ids are UUID text; booleans are 0/1 (the subset both backends share).
CREATE TABLE users (
    id            TEXT    PRIMARY KEY NOT NULL,
    email         TEXT    NOT NULL,
    email_folded  TEXT    NOT NULL,
    name          TEXT    NOT NULL,
    role          TEXT    NOT NULL CHECK (role IN ('admin', 'member', 'collaborator')),
    active        INTEGER NOT NULL CHECK (active IN (0, 1)),
    password_hash TEXT
);
CREATE UNIQUE INDEX users_email_folded ON users (email_folded);

CREATE TABLE tokens (
    id           TEXT    PRIMARY KEY NOT NULL,
    owner_id     TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT    NOT NULL,
    name_folded  TEXT    NOT NULL,
    description  TEXT    NOT NULL,
    created_at   BIGINT  NOT NULL,
    updated_at   BIGINT  NOT NULL,
    expires_at   BIGINT  NOT NULL,
    revoked_at   BIGINT,
    last_used_at BIGINT,
    last_used_ip TEXT,
    generation   INTEGER NOT NULL,
    secret_hash  TEXT    NOT NULL,
    hint         TEXT    NOT NULL
);
CREATE UNIQUE INDEX tokens_secret_hash ON tokens (secret_hash);
CREATE UNIQUE INDEX tokens_owner_name ON tokens (owner_id, name_folded);
CREATE INDEX tokens_owner_created ON tokens (owner_id, created_at, id);

CREATE TABLE token_scopes (
    id       TEXT    PRIMARY KEY NOT NULL,
    token_id TEXT    NOT NULL REFERENCES tokens (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    scope    TEXT    NOT NULL
);
CREATE UNIQUE INDEX token_scopes_token_scope ON token_scopes (token_id, scope);
CREATE INDEX token_scopes_token_position ON token_scopes (token_id, position);

CREATE TABLE settings (
    id                  INTEGER PRIMARY KEY CHECK (id = 1),
    pats_enabled        INTEGER NOT NULL CHECK (pats_enabled IN (0, 1)),
    max_lifetime_days   INTEGER NOT NULL,
    max_active_per_user INTEGER NOT NULL,
    expiry_warning_days INTEGER NOT NULL
);

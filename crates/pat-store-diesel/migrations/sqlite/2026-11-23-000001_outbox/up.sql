-- The durable notice queue. No foreign keys: a notice about a token outlives it.
CREATE TABLE outbox (
    id              TEXT    PRIMARY KEY NOT NULL,
    dedupe_key      TEXT    NOT NULL,
    kind            TEXT    NOT NULL,
    user_id         TEXT    NOT NULL,
    email           TEXT    NOT NULL,
    name            TEXT    NOT NULL,
    token_id        TEXT    NOT NULL,
    token_name      TEXT    NOT NULL,
    expires_at      BIGINT  NOT NULL,
    generation      INTEGER NOT NULL,
    status          TEXT    NOT NULL CHECK (status IN ('pending', 'sent', 'failed')),
    attempts        INTEGER NOT NULL,
    next_attempt_at BIGINT  NOT NULL,
    last_error      TEXT,
    created_at      BIGINT  NOT NULL,
    sent_at         BIGINT
);
CREATE UNIQUE INDEX outbox_dedupe_key ON outbox (dedupe_key);
CREATE INDEX outbox_due ON outbox (next_attempt_at, id) WHERE status = 'pending';
CREATE INDEX outbox_created ON outbox (created_at, id);

-- Secrets tokens had before a regeneration, as keyed hashes (never the secret): one
-- presented again is the token during its grace period, and a leak after it. Kept as
-- long as the token could have lived.
CREATE TABLE retired_secrets (
    secret_hash TEXT    PRIMARY KEY NOT NULL,
    token_id    TEXT    NOT NULL,
    generation  INTEGER NOT NULL,
    retired_at  BIGINT  NOT NULL,
    grace_until BIGINT  NOT NULL,
    keep_until  BIGINT  NOT NULL
);
CREATE INDEX retired_secrets_token ON retired_secrets (token_id);
CREATE INDEX retired_secrets_keep ON retired_secrets (keep_until);

-- Rotation with a grace period and reuse detection: until when a token's previous
-- secret still works, when a rotated-away secret was last used again, and the admin's
-- two settings for them.
ALTER TABLE tokens ADD COLUMN previous_secret_valid_until BIGINT;
ALTER TABLE tokens ADD COLUMN reuse_detected_at BIGINT;
ALTER TABLE settings ADD COLUMN max_grace_minutes INTEGER NOT NULL DEFAULT 1440
    CHECK (max_grace_minutes BETWEEN 0 AND 10080);
ALTER TABLE settings ADD COLUMN revoke_on_reuse INTEGER NOT NULL DEFAULT 1
    CHECK (revoke_on_reuse IN (0, 1));

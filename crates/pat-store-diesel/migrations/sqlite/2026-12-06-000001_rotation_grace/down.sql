ALTER TABLE settings DROP COLUMN revoke_on_reuse;
ALTER TABLE settings DROP COLUMN max_grace_minutes;
ALTER TABLE tokens DROP COLUMN reuse_detected_at;
ALTER TABLE tokens DROP COLUMN previous_secret_valid_until;

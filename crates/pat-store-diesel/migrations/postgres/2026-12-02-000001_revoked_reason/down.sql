ALTER TABLE tokens DROP COLUMN revoked_reason;

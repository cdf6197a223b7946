-- The audit log (no foreign keys: history outlives tokens and users) and the
-- reminder state, with a partial index so the reminder query reads only tokens that
-- can still be due (unrevoked, "expired" not yet sent for this generation).
CREATE TABLE audit_events (
    id       TEXT   PRIMARY KEY NOT NULL,
    at       BIGINT NOT NULL,
    action   TEXT   NOT NULL,
    reason   TEXT,
    actor_id TEXT,
    owner_id TEXT,
    token_id TEXT,
    ip       TEXT,
    detail   TEXT   NOT NULL
);
CREATE INDEX audit_events_at ON audit_events (at, id);
CREATE INDEX audit_events_token ON audit_events (token_id, at, id);
CREATE INDEX audit_events_owner ON audit_events (owner_id, at, id);

ALTER TABLE tokens ADD COLUMN expiring_soon_sent_for INTEGER;
ALTER TABLE tokens ADD COLUMN expired_sent_for INTEGER;
CREATE INDEX tokens_reminder_queue ON tokens (expires_at, id)
    WHERE revoked_at IS NULL AND expired_sent_for IS NULL;

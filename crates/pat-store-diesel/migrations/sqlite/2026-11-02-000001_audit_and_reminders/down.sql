DROP INDEX tokens_reminder_queue;
ALTER TABLE tokens DROP COLUMN expired_sent_for;
ALTER TABLE tokens DROP COLUMN expiring_soon_sent_for;
DROP TABLE audit_events;

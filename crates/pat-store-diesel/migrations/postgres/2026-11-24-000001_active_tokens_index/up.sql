-- The active-token count (every create and regenerate, under the owner's lock) reads
-- only the owner's unrevoked tokens, not every token the owner ever revoked.
CREATE INDEX tokens_owner_unrevoked ON tokens (owner_id, expires_at) WHERE revoked_at IS NULL;

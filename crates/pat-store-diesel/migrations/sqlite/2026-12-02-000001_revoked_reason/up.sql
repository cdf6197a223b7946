-- Why a token was revoked (owner, admin, leak_report, reuse_detected): it decides whether
-- the owner may regenerate it. NULL while the token is not revoked.
ALTER TABLE tokens ADD COLUMN revoked_reason TEXT;

-- Tokens revoked before reasons were kept: the audit event written with the revocation
-- (same time) tells who did it. A leak report wins over an owner's revocation.
UPDATE tokens SET revoked_reason = 'owner' WHERE revoked_at IS NOT NULL;
UPDATE tokens SET revoked_reason = 'admin'
WHERE revoked_at IS NOT NULL AND EXISTS (
    SELECT 1 FROM audit_events e
    WHERE e.token_id = tokens.id AND e.action = 'token.revoked' AND e.at = tokens.revoked_at
      AND e.actor_id IS NOT NULL AND e.actor_id <> tokens.owner_id
);
UPDATE tokens SET revoked_reason = 'leak_report'
WHERE revoked_at IS NOT NULL AND EXISTS (
    SELECT 1 FROM audit_events e
    WHERE e.token_id = tokens.id AND e.action = 'token.leak_reported' AND e.at = tokens.revoked_at
);

-- Where a token may be used from: its allowlist (CIDR ranges, comma-separated; empty:
-- anywhere), what a request from elsewhere meets, and the time before which it is refused.
ALTER TABLE tokens ADD COLUMN allowed_ips TEXT NOT NULL DEFAULT '';
ALTER TABLE tokens ADD COLUMN ip_policy TEXT NOT NULL DEFAULT 'enforce'
    CHECK (ip_policy IN ('enforce', 'report'));
ALTER TABLE tokens ADD COLUMN not_before BIGINT;

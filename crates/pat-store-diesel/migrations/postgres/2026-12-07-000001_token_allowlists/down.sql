ALTER TABLE tokens DROP COLUMN not_before;
ALTER TABLE tokens DROP COLUMN ip_policy;
ALTER TABLE tokens DROP COLUMN allowed_ips;

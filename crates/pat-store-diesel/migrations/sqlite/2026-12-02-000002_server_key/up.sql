-- The fingerprint of the server key the tokens are hashed with (HMAC(key, "patd key
-- check"), never the key): a server started with another key refuses to start instead
-- of answering every token "unknown". One row.
CREATE TABLE server_key (
    id          INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    fingerprint TEXT    NOT NULL,
    recorded_at BIGINT  NOT NULL
);

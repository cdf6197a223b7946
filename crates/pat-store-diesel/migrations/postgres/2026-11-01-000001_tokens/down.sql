DROP TABLE settings;
DROP TABLE token_scopes;
DROP TABLE tokens;
DROP TABLE users;

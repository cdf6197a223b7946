DROP TABLE server_key;

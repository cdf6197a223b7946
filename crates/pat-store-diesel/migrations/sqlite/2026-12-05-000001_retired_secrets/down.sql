DROP TABLE retired_secrets;

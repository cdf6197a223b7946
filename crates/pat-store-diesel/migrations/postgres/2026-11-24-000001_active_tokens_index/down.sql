DROP INDEX tokens_owner_unrevoked;

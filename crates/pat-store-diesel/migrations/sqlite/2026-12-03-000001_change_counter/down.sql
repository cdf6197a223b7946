DROP TABLE pat_changes;

-- A counter every change that can alter an authentication answer bumps inside its own
-- transaction (token, user and settings changes: whatever writes a journal). Another
-- process's change watcher polls it (after `PRAGMA data_version` says something was
-- committed) and empties its verification cache when it moved. One row.
CREATE TABLE pat_changes (
    id      INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    counter BIGINT  NOT NULL
);
INSERT INTO pat_changes (id, counter) VALUES (1, 0);

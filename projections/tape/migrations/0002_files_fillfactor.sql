-- Up Migration
-- Room on each page so that marking a file ready/errored is a HOT update (no index writes).
ALTER TABLE files SET (fillfactor = 50);

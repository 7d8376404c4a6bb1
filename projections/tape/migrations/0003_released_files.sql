-- Up Migration
-- Files released from the library's disk cache (DELETE /staging/files): when, and how many per job.
ALTER TABLE files ADD COLUMN released_at timestamptz;
ALTER TABLE jobs ADD COLUMN released_files integer NOT NULL DEFAULT 0;

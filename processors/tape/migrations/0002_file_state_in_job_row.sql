-- Up Migration
-- File status moves into the job row (one byte per file, in the order of the job's file list:
-- 0 PENDING, 1 READY, 2 ERROR), so a notification batch is one row read and one row write whatever
-- its size. job_files stays as the immutable file → (job, position) index for the adapter's lookup.
ALTER TABLE jobs ADD COLUMN file_state bytea NOT NULL DEFAULT '\x'::bytea;
ALTER TABLE job_files ADD COLUMN idx integer NOT NULL DEFAULT 0;
ALTER TABLE job_files DROP COLUMN status;

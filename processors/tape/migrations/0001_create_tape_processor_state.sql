-- Up Migration
-- Processor state of tape jobs (schema processor_tape): one row per job, one per (job, file).
CREATE TABLE jobs (
  job_id      bigint PRIMARY KEY,
  status      text    NOT NULL,
  notify_url  text    NOT NULL,
  total       integer NOT NULL,
  ready       integer NOT NULL DEFAULT 0,
  error       integer NOT NULL DEFAULT 0,
  deadline    bigint  NOT NULL, -- ms since epoch
  submitted   boolean NOT NULL DEFAULT false,
  return_code integer,
  comment     text    NOT NULL DEFAULT '',
  callback    text    NOT NULL DEFAULT 'NONE',
  delivery_id uuid
);
CREATE INDEX jobs_staging_deadline ON jobs (deadline) WHERE status = 'STAGING';
CREATE INDEX jobs_callback_failed ON jobs (job_id) WHERE callback = 'FAILED';

CREATE TABLE job_files (
  job_id  bigint NOT NULL,
  file    text   NOT NULL,
  status  text   NOT NULL DEFAULT 'PENDING',
  PRIMARY KEY (job_id, file)
);
-- the notification adapter maps a file name to its jobs
CREATE INDEX job_files_file ON job_files (file);

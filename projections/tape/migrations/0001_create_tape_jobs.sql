-- Up Migration
-- Read model of tape staging jobs (schema projection_tape): the seed's job and file tables, plus the
-- callback delivery state and the notification adapter's heartbeat / tape cache state.
CREATE TABLE jobs (
  job_id            bigint PRIMARY KEY,
  status            text        NOT NULL, -- REQUESTED, STAGING, COMPLETED, FAILED, CANCELLED (tombstone: hidden)
  notify_url        text        NOT NULL,
  created           timestamptz NOT NULL,
  completed         boolean     NOT NULL DEFAULT false,
  completed_at      timestamptz,
  deadline          timestamptz,
  submitted         boolean     NOT NULL DEFAULT false,
  total_files       integer     NOT NULL DEFAULT 0,
  ready_files       integer     NOT NULL DEFAULT 0,
  error_files       integer     NOT NULL DEFAULT 0,
  return_code       integer,
  comment           text        NOT NULL DEFAULT '',
  callback_status   text        NOT NULL DEFAULT 'NONE', -- NONE, PENDING, DELIVERED, FAILED
  callback_attempts integer     NOT NULL DEFAULT 0,
  callback_error    text,
  -- offset of the last event applied to this job (one job = one key = one partition): replays do nothing
  last_offset       bigint      NOT NULL
);
CREATE INDEX jobs_callback_failed ON jobs (job_id) WHERE callback_status = 'FAILED';

CREATE TABLE files (
  job_id     bigint  NOT NULL,
  name       text    NOT NULL,
  ready      boolean NOT NULL DEFAULT false,
  error      boolean NOT NULL DEFAULT false,
  readytime  timestamptz,
  error_text text,
  PRIMARY KEY (job_id, name)
);

CREATE TABLE adapter (
  id                     text PRIMARY KEY,
  heartbeat              timestamptz NOT NULL,
  notifications_consumed bigint      NOT NULL,
  cache                  jsonb,
  last_offset            bigint      NOT NULL
);

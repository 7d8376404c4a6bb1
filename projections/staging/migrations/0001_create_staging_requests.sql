-- Up Migration
CREATE TABLE staging_requests (
  request_id text PRIMARY KEY,
  method text NOT NULL,
  username text NOT NULL,
  local_path_on_storage text NOT NULL,
  relative_path text NOT NULL,
  status text NOT NULL CHECK (status IN ('QUEUED', 'SUCCESS', 'FAILURE')),
  skipped boolean NOT NULL DEFAULT false,
  reconciled boolean NOT NULL DEFAULT false,
  source_path text,
  destination text,
  size_bytes bigint,
  error_code text,
  error_reason text,
  actor text,
  requested_at timestamptz NOT NULL,
  started_at timestamptz,
  finished_at timestamptz,
  last_offset bigint NOT NULL
);
CREATE INDEX staging_requests_user ON staging_requests (username, requested_at DESC);
CREATE INDEX staging_requests_status ON staging_requests (status, requested_at DESC);

CREATE TABLE staging_log (
  event_id uuid PRIMARY KEY,
  at timestamptz NOT NULL,
  level text NOT NULL,
  request_id text NOT NULL,
  event text NOT NULL,
  message text NOT NULL
);
CREATE INDEX staging_log_at ON staging_log (at, event_id);

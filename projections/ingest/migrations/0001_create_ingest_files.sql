-- Up Migration
-- One row per file (current state) and one per event (the seed's complete history, *_file_events).
-- `version` is the Kafka offset of the last applied event: every event of a file is on one partition.
CREATE TABLE files (
  file_id text PRIMARY KEY,
  rel_path text,
  checksum text,
  size bigint,
  source_path text,
  storage_path text,
  in_storage boolean NOT NULL DEFAULT false,
  status text,
  status_at timestamptz,
  attempts integer NOT NULL DEFAULT 0,
  plugin text,
  last_error text,
  finder_action text,
  discovered_at timestamptz,
  updated_at timestamptz NOT NULL,
  version bigint NOT NULL
);
CREATE INDEX files_status_idx ON files (status, status_at);

CREATE TABLE file_events (
  event_id text PRIMARY KEY,
  file_id text NOT NULL,
  event_offset bigint NOT NULL,
  event text NOT NULL,
  status text,
  occurred_at timestamptz NOT NULL,
  actor text,
  plugin text,
  attempt integer,
  duration_ms bigint,
  error text,
  details jsonb
);
CREATE INDEX file_events_file_idx ON file_events (file_id, event_offset);

-- Up Migration
-- Read model of the GW data buffer: the seed's StatDesc.json + Dsstat.json per datastore (datastores),
-- the stored files (files, archive_path set once flushed) and the datastore's event log (history).
CREATE TABLE datastores (
  datastore_id text PRIMARY KEY,
  dstatus text NOT NULL,
  n_itm integer NOT NULL,
  buff_size bigint NOT NULL,
  "user" text NOT NULL DEFAULT '',
  token_owner text NOT NULL DEFAULT '',
  last_archive text,
  -- offset of the last event applied: later events apply only above it, so replays do nothing
  last_offset bigint NOT NULL,
  updated_at timestamptz NOT NULL
);
CREATE TABLE files (
  datastore_id text NOT NULL,
  file_name text NOT NULL,
  bytes bigint NOT NULL,
  n_samples integer NOT NULL,
  t0 double precision NOT NULL,
  dt double precision NOT NULL,
  stored_at timestamptz NOT NULL,
  archive_path text,
  PRIMARY KEY (datastore_id, file_name)
);
CREATE INDEX files_buffered ON files (datastore_id, file_name) WHERE archive_path IS NULL;
CREATE TABLE history (
  datastore_id text NOT NULL,
  event_offset bigint NOT NULL,
  event_name text NOT NULL,
  occurred_at timestamptz NOT NULL,
  correlation_id text NOT NULL,
  actor text,
  body jsonb NOT NULL,
  PRIMARY KEY (datastore_id, event_offset)
);

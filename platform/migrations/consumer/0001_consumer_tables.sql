-- Up Migration
CREATE TABLE consumer_offsets (
  group_id text NOT NULL,
  topic text NOT NULL,
  partition int NOT NULL,
  next_offset bigint NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (group_id, topic, partition)
);
CREATE TABLE processed_events (
  event_id uuid PRIMARY KEY,
  processed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX processed_events_at ON processed_events (processed_at);
CREATE TABLE effects (
  effect_id text PRIMARY KEY,
  state text NOT NULL CHECK (state IN ('STARTED', 'DONE')),
  result jsonb,
  started_at timestamptz NOT NULL DEFAULT now(),
  done_at timestamptz
);

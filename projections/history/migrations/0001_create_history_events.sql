-- Up Migration
-- One row per event of every domain topic (who did what). The log position is the key: a duplicate
-- delivery or a replay inserts nothing new.
CREATE TABLE history_events (
  topic text NOT NULL,
  partition int NOT NULL,
  "offset" bigint NOT NULL,
  domain text NOT NULL,
  entity_key text NOT NULL,
  event text NOT NULL,
  occurred_at timestamptz NOT NULL,
  actor text,
  outcome text NOT NULL,
  detail text,
  correlation_id text,
  event_id uuid NOT NULL,
  PRIMARY KEY (topic, partition, "offset")
);
CREATE INDEX history_events_entity ON history_events (domain, entity_key, occurred_at);
CREATE INDEX history_events_actor ON history_events (actor, occurred_at) WHERE actor IS NOT NULL;

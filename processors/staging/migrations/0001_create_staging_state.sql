-- Up Migration
CREATE TABLE staging_state (
  request_id text PRIMARY KEY,
  state jsonb NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);

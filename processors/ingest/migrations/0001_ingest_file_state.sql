-- Up Migration
-- The ingest processor's per-file state (rules.ts FileState), written in the batch transaction.
CREATE TABLE file_state (
  file_id text PRIMARY KEY,
  state jsonb NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);

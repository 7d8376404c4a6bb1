-- Up Migration
-- The gw processor's state per datastore (rules.ts GwState), written in the batch transaction.
CREATE TABLE datastores (
  datastore_id text PRIMARY KEY,
  state jsonb NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- Up Migration
-- one row per input event applied; `applied` counts how often (must stay 1), `apply_no` records the apply order
CREATE TABLE applied (
  event_id uuid PRIMARY KEY,
  key text NOT NULL,
  seq bigint NOT NULL,
  value bigint NOT NULL,
  applied int NOT NULL DEFAULT 1,
  apply_no bigserial NOT NULL
);
-- one row per processor outcome (TortureEffectDone) applied downstream of the outbox
CREATE TABLE outcomes (
  source_event_id uuid PRIMARY KEY,
  key text NOT NULL,
  seq bigint NOT NULL,
  reconciled boolean NOT NULL,
  applied int NOT NULL DEFAULT 1,
  apply_no bigserial NOT NULL
);

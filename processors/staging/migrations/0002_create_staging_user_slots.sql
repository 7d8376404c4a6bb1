-- Up Migration
-- Per-user slots (processors/staging/slots.ts): the requests of a user that are active, and those waiting, in order.
CREATE TABLE staging_user_slots (
  username text PRIMARY KEY,
  active text[] NOT NULL DEFAULT '{}',
  waiting text[] NOT NULL DEFAULT '{}'
);

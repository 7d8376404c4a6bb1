-- Up Migration
CREATE TABLE samples (
  sample_id text PRIMARY KEY,
  value bigint NOT NULL,
  applied int NOT NULL DEFAULT 1
);

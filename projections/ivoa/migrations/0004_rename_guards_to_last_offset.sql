-- Up Migration
-- One guard-column name in every projection: last_offset, the Kafka offset of the last event applied
-- to the row (obscore's was `_version`, the tombstones' and replicas' `version`). Rename only. The TAP
-- foreign table (infra/tap/dachs.ts) lists the ObsCore columns by name, so the guard stays unexposed.
ALTER TABLE obscore RENAME COLUMN _version TO last_offset;
ALTER TABLE did_tombstones RENAME COLUMN version TO last_offset;
ALTER TABLE replicas RENAME COLUMN version TO last_offset;

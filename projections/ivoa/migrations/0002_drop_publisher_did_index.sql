-- Up Migration
-- The publisher DID is derived from (scope, name), which the primary key already indexes; the extra
-- text index cost ~40% of ObsCore insert throughput (bench/ivoa.ts).
DROP INDEX IF EXISTS obscore_publisher_did;

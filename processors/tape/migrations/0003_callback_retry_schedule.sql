-- Up Migration
-- Long retry schedule of callback deliveries whose in-batch attempts failed: the next attempt is due
-- at callback_next_at (ms; the tick triggers it), after callback_rounds rounds and callback_attempts
-- POSTs since callback_since (ms, the first failure). All reset when the delivery ends.
ALTER TABLE jobs ADD COLUMN callback_next_at bigint;
ALTER TABLE jobs ADD COLUMN callback_rounds integer NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN callback_attempts integer NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN callback_since bigint;
CREATE INDEX jobs_callback_due ON jobs (callback_next_at) WHERE callback_next_at IS NOT NULL;

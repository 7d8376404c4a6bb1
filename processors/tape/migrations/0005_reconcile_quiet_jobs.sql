-- Up Migration
-- Reconciliation of jobs whose notifications stopped: last_heard_at (ms) is when the library was last
-- heard about the job (submitted, a notification that counted, a reconcile); a staging job silent for
-- TAPE_QUIET_PERIOD_S is reconciled on the tick. first_error: the first failed file and its reason.
ALTER TABLE jobs ADD COLUMN last_heard_at bigint;
ALTER TABLE jobs ADD COLUMN first_error text;
CREATE INDEX jobs_staging_heard ON jobs (last_heard_at) WHERE status = 'STAGING';

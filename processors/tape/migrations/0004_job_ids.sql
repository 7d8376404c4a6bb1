-- Up Migration
-- The job ids the write side has accepted (schema processor_tape). POST /staging inserts its id here in
-- the same transaction as the TapeJobRequested outbox row, so an id is accepted exactly once (a
-- duplicate hits the primary key: 403). The processor claims ids of requests appended another way and
-- reads the row to cancel a job whose request it has not handled yet. Never deleted: an id is never reused.
CREATE TABLE job_ids (
  job_id           bigint PRIMARY KEY,
  request_event_id text,            -- eventId of the TapeJobRequested that holds the id (null: backfilled below)
  accepted_at      timestamptz NOT NULL DEFAULT now()
);
-- jobs the processor created before reservations existed keep their ids
INSERT INTO job_ids (job_id) SELECT job_id FROM jobs ON CONFLICT DO NOTHING;

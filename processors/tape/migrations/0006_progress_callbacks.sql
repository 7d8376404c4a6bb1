-- Up Migration
-- PROGRESS callbacks: the job's percentages (ascending) and the highest one already passed.
ALTER TABLE jobs ADD COLUMN progress integer[] NOT NULL DEFAULT '{}';
ALTER TABLE jobs ADD COLUMN progress_sent integer NOT NULL DEFAULT 0;

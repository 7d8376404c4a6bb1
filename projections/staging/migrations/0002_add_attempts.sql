-- Up Migration
ALTER TABLE staging_requests ADD COLUMN attempts integer NOT NULL DEFAULT 1;

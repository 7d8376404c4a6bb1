-- Up Migration
-- One guard-column name in every projection: files.last_offset is the Kafka offset of the last event
-- applied to the file (it was called `version`). Rename only: stored values keep their meaning.
ALTER TABLE files RENAME COLUMN version TO last_offset;

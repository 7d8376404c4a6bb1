-- Up Migration
-- Where a quarantined file is (FileQuarantined); null when it is not in quarantine (FileRestored clears it).
ALTER TABLE files ADD COLUMN quarantine_path text;
CREATE INDEX files_quarantined_idx ON files (status_at) WHERE quarantine_path IS NOT NULL;

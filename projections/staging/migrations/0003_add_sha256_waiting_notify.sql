-- Up Migration
ALTER TABLE staging_requests
  ADD COLUMN sha256 text,
  ADD COLUMN waiting boolean NOT NULL DEFAULT false,
  ADD COLUMN notify_url text,
  ADD COLUMN notify_status text CHECK (notify_status IN ('PENDING', 'DELIVERED', 'FAILED'));

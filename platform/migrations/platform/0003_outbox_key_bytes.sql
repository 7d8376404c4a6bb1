-- Up Migration
-- Kafka keys are bytes: a dead-lettered record keeps its original key, which may hold what text cannot (NUL).
ALTER TABLE outbox ALTER COLUMN key TYPE bytea USING convert_to(key, 'UTF8');

-- Up Migration
-- where each row was applied from (topic partition and offset of the record), so the history checker
-- can say which key and which offsets a reordering involves
ALTER TABLE applied ADD COLUMN src_partition int, ADD COLUMN src_offset bigint;
ALTER TABLE outcomes ADD COLUMN src_partition int, ADD COLUMN src_offset bigint;

-- Up Migration
-- Point-in-time snapshots built by `dbb replay <projection> --until ... --into <name>` (platform/snapshots.ts).
CREATE TABLE snapshots (
  name text NOT NULL,
  projection text NOT NULL,
  schema_name text NOT NULL UNIQUE,
  until text NOT NULL,
  stop_offsets jsonb NOT NULL,
  events bigint NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (name, projection)
);
-- A statement trigger on every table of a snapshot schema: refuses writes, superusers included
-- (REVOKE alone does not bind a superuser or the owner's re-GRANT).
CREATE FUNCTION snapshot_read_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'snapshot %.% is read-only', TG_TABLE_SCHEMA, TG_TABLE_NAME USING ERRCODE = 'read_only_sql_transaction';
END $$;

-- Up Migration
-- DaCHS reads this schema through postgres_fdw as dbb_tap_reader (infra/tap/dachs.ts). Granting here,
-- in whatever schema is being migrated, keeps TAP working after `dbb replay` swaps in a rebuilt schema.
-- The role is created by the DaCHS setup; without it there is nothing to grant yet.
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'dbb_tap_reader') THEN
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO dbb_tap_reader', current_schema());
    EXECUTE format('GRANT SELECT ON ALL TABLES IN SCHEMA %I TO dbb_tap_reader', current_schema());
  END IF;
END $$;

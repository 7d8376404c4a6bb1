-- Up Migration
-- ObsCore 1.1 table (one row per DID, the seed's rucio.obscore) plus the Rucio DID columns, the
-- replicas DataLink lists, and tombstones so a replayed or duplicate event never resurrects a deleted DID.
-- pgSphere lives in public so every projection schema (and its replay shadow) shares one type.
CREATE EXTENSION IF NOT EXISTS pg_sphere SCHEMA public;

CREATE TABLE obscore (
  dataproduct_type text,
  calib_level integer,
  obs_collection text NOT NULL,
  obs_id text NOT NULL,
  obs_publisher_did text NOT NULL,
  access_url text,
  access_format text,
  access_estsize bigint,
  target_name text,
  s_ra double precision,
  s_dec double precision,
  s_fov double precision,
  s_region public.spoly,
  s_resolution double precision,
  s_xel1 bigint,
  s_xel2 bigint,
  t_min double precision,
  t_max double precision,
  t_exptime double precision,
  t_resolution double precision,
  t_xel bigint,
  em_min double precision,
  em_max double precision,
  em_res_power double precision,
  em_xel bigint,
  o_ucd text,
  pol_states text,
  pol_xel bigint,
  facility_name text,
  instrument_name text,
  rucio_did_scope text NOT NULL,
  rucio_did_name text NOT NULL,
  _version bigint NOT NULL,
  PRIMARY KEY (rucio_did_scope, rucio_did_name)
);
-- The expression DaCHS (and our SCS) use for POINT('ICRS', s_ra, s_dec), so cone searches use the index.
CREATE INDEX obscore_position ON obscore USING gist (public.spoint(radians(s_ra), radians(s_dec)));
CREATE INDEX obscore_publisher_did ON obscore (obs_publisher_did);

CREATE TABLE did_tombstones (
  scope text NOT NULL,
  name text NOT NULL,
  version bigint NOT NULL,
  PRIMARY KEY (scope, name)
);

CREATE TABLE replicas (
  scope text NOT NULL,
  name text NOT NULL,
  rse text NOT NULL,
  access_url text NOT NULL,
  site text NOT NULL,
  site_lat double precision NOT NULL,
  site_lon double precision NOT NULL,
  removed boolean NOT NULL DEFAULT false,
  version bigint NOT NULL,
  PRIMARY KEY (scope, name, rse)
);

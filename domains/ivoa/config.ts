// The ivoa domain's configuration keys (projection, SCS/DataLink routes, TAP proxy).
import { Type } from '@sinclair/typebox';
import { isAbsolute, join, resolve } from 'node:path';
import { ConfigError, key, parseEnv, type Env } from '../../platform/config.ts';

export const IVOA_KEYS = {
  authority: key('IVOA_AUTHORITY', Type.String({ pattern: '^ivo://[^?#]+$' }), 'IVOA authority + path of publisher DIDs: ivo://<authority>/<path>?<scope>:<name>', 'ivo://dbb.local/rucio'),
  publicUrl: key('IVOA_PUBLIC_URL', Type.String({ pattern: '^https?://' }), 'public base URL of the gateway, used for ObsCore access_url (DataLink links)', 'http://127.0.0.1:8080'),
  siteLat: key('IVOA_SITE_LAT', Type.Number({ minimum: -90, maximum: 90 }), 'default caller site latitude for DataLink replica ordering, degrees', 52.2),
  siteLon: key('IVOA_SITE_LON', Type.Number({ minimum: -180, maximum: 360 }), 'default caller site longitude for DataLink replica ordering, degrees', 0.1),
  scsMaxSr: key('IVOA_SCS_MAX_SR', Type.Number({ exclusiveMinimum: 0, maximum: 180 }), 'largest accepted cone search radius SR, degrees', 10),
  scsMaxRec: key('IVOA_SCS_MAXREC', Type.Integer({ minimum: 1 }), 'most rows a cone search returns (overflow is flagged in the VOTable)', 100_000),
  pgSphereExtension: key('IVOA_PGSPHERE_EXTENSION', Type.String({ pattern: '^[a-z_][a-z0-9_]*$' }), 'the PostgreSQL extension that provides the spherical types (pgSphere); ivoa is unavailable when the database cannot create it', 'pg_sphere'),
  tapUrl: key('IVOA_TAP_URL', Type.String({ pattern: '^https?://' }), 'the TAP service (DaCHS) that /tap proxies to', 'http://127.0.0.1:8090/tap'),
  storageRoot: key('IVOA_STORAGE_ROOT', Type.String(), 'directory holding DID files locally as <root>/<scope>/<name> (SODA cuts these out); default <DBB_STATE_DIR>/ivoa/storage', ''),
  replicaPaths: key('IVOA_REPLICA_PATHS', Type.String(), 'replicas readable locally: comma-separated URL-prefix=directory pairs (a replica whose access URL starts with the prefix is the file at directory + the rest of its path)', ''),
  sodaTimeoutMs: key('IVOA_SODA_TIMEOUT_MS', Type.Integer({ minimum: 1000 }), 'longest a SODA cutout may run (the astropy worker is killed after)', 60_000),
};

export interface ReplicaPath { prefix: string; dir: string }

/** IVOA_REPLICA_PATHS → [{ prefix, dir }]; throws on a pair without '=' or with a relative directory. */
export function parseReplicaPaths(raw: string): ReplicaPath[] {
  return raw.split(',').map((s) => s.trim()).filter(Boolean).map((pair) => {
    const i = pair.lastIndexOf('=');
    const prefix = pair.slice(0, i).trim();
    const dir = pair.slice(i + 1).trim();
    if (i <= 0 || !isAbsolute(dir)) throw new ConfigError('IVOA_REPLICA_PATHS', `${JSON.stringify(pair)} is not URL-prefix=/absolute/directory`);
    return { prefix, dir: resolve(dir) };
  });
}

export function loadIvoaConfig(env: Env) {
  const raw = parseEnv(IVOA_KEYS, env);
  const storageRoot = resolve(raw.storageRoot || join(env.DBB_STATE_DIR || join(process.cwd(), '.dbb'), 'ivoa', 'storage'));
  return { ...raw, storageRoot, replicaPathList: parseReplicaPaths(raw.replicaPaths) };
}
export type IvoaConfig = ReturnType<typeof loadIvoaConfig>;

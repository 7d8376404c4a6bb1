// The gw domain's config keys (seed Datastore Logic MAX_SIZE, Data Buffer DATAROOT), shared by the
// processor and the gateway routes.
import { Type } from '@sinclair/typebox';
import { join } from 'node:path';
import { key, parseEnv, type Config, type Env } from '../../platform/config.ts';

export const GW_KEYS = {
  dataDir: key('GW_DATA_DIR', Type.String(), 'buffer root: <dir>/<datastore>/data/*.json and archive/<batch>/ (default <DBB_STATE_DIR>/gw)', ''),
  maxSize: key('GW_MAX_SIZE', Type.Integer({ minimum: 1 }), 'seed MAX_SIZE: bytes stored before /train freezes the datastore', 64 * 1024 * 1024),
  defaultDatastore: key('GW_DEFAULT_DATASTORE', Type.String({ pattern: '^[A-Za-z0-9_-]{1,64}$' }), 'datastore id the seed routes (/streamdata, /train, ...) act on', 'default'),
  maxChunkBytes: key('GW_MAX_CHUNK_BYTES', Type.Integer({ minimum: 1024 }), 'largest /streamdata body, bytes (larger → 413)', 16 * 1024 * 1024),
  fileFormat: key('GW_FILE_FORMAT', Type.Union([Type.Literal('json'), Type.Literal('json-b64')]), "chunk files: 'json' = the seed's {\"h\":[...],\"t\":[t0,dt]}; 'json-b64' = h as base64 float64le (faster, smaller)", 'json'),
  readMaxSamples: key('GW_READ_MAX_SAMPLES', Type.Integer({ minimum: 1 }), 'most samples one GET /api/v1/gw/datastores/{id}/strain answers (a larger [t0, t1) → 400 DBB_GW_RANGE_TOO_LARGE); 2^20 float64 = 8 MiB octet-stream', 1 << 20),
  fsync: key('GW_FSYNC', Type.Boolean(), 'fsync every chunk file before it is renamed into the buffer', false),
};

export type GwConfig = ReturnType<typeof parseEnv<typeof GW_KEYS>>;

export function loadGwConfig(config: Pick<Config, 'stateDir'>, env: Env): GwConfig {
  const gw = parseEnv(GW_KEYS, env);
  return { ...gw, dataDir: gw.dataDir || join(config.stateDir, 'gw') };
}

/** Datastore ids name directories and Kafka keys. */
export const DATASTORE_ID_PATTERN = '^[A-Za-z0-9_-]{1,64}$';

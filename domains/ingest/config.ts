// The ingest YAML config (seed "Configure DBB endpoint buffer manager": database, finder, ingester,
// backfill sections), validated with TypeBox; INGEST_* environment variables override file values.
import { readFileSync } from 'node:fs';
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { parse as parseYaml } from 'yaml';
import type { Env } from '../../platform/config.ts';
import { DEFAULT_EVENTS_TOPIC } from './storage-events.ts';

const Ms = (dflt: number, doc: string) => Type.Integer({ minimum: 0, default: dflt, description: doc });

export const DatabaseSection = Type.Object({
  engine: Type.Optional(Type.String({ pattern: '^postgres(ql)?://', description: 'Postgres URL; default DATABASE_URL' })),
  // accepted for seed compatibility; the event log replaces the files/file_events tables
  tablenames: Type.Optional(Type.Unknown()),
}, { additionalProperties: false });

export const FinderSection = Type.Object({
  source: Type.String({ minLength: 1, description: 'buffer directory watched for new files' }),
  storage: Type.String({ minLength: 1, description: 'storage area files are moved into, keeping their relative path' }),
  actions: Type.Object({
    standard: Type.Literal('Move', { default: 'Move' }),
    alternative: Type.Union([Type.Literal('Delete'), Type.Literal('Keep')], { default: 'Delete', description: 'for a file already in storage with the same checksum' }),
  }, { additionalProperties: false, default: {} }),
  search: Type.Object({
    method: Type.Union([Type.Literal('scan'), Type.Literal('watch'), Type.Literal('events')], { default: 'scan', description: 'scan: periodic walk; watch: fs.watch (inotify) wakes a walk at once; events: the files named by storage events on finder.events.topic (no walk)' }),
    interval: Ms(1000, 'ms between scans (watch mode: between safety scans)'),
    complete: Type.Union([Type.Literal('stable'), Type.Literal('closed')], { default: 'stable', description: 'stable: size/mtime unchanged for stableMs; closed: also no process has it open (Linux /proc)' }),
    stableMs: Ms(2000, 'ms a file must stay unmodified before it is taken'),
    exclude: Type.Array(Type.String(), { default: [], description: 'regular expressions on the relative path; dot-files are always skipped' }),
  }, { additionalProperties: false, default: {} }),
  events: Type.Object({
    topic: Type.String({ minLength: 1, default: DEFAULT_EVENTS_TOPIC, description: 'Kafka topic of storage events (JSON: S3/MinIO bucket notifications or {"path": ...}); prefixed by DBB_NAMESPACE' }),
    bucketDir: Type.Boolean({ default: false, description: 'S3 events: the bucket name is the first directory below source (MinIO filesystem layout)' }),
  }, { additionalProperties: false, default: {} }),
  journal: Type.Optional(Type.String({ description: 'crash journal directory; default <storage>/.dbb-finder' })),
  concurrency: Type.Integer({ minimum: 1, default: 512, description: 'files per batch (one journal entry; two batches at once, one hashed and moved while the other waits for its event acknowledgements); larger batches mean larger producer requests. Also the bound on files hashed at once' }),
}, { additionalProperties: false });

export const IngesterSection = Type.Object({
  plugin: Type.Object({
    name: Type.String({ minLength: 1, default: 'Registry', description: 'Registry or Command' }),
    config: Type.Record(Type.String(), Type.Unknown(), { default: {} }),
  }, { additionalProperties: false, default: {} }),
  quarantine: Type.Optional(Type.String({ minLength: 1, description: 'directory a file moves to (relative path kept, <name>.reason.json beside it) when its ingest attempt ends FAILURE; off when unset' })),
  concurrency: Type.Integer({ minimum: 1, default: 4, description: 'attempts run at once per plugin' }),
  daemon: Type.Boolean({ default: true, description: 'false: process queued work, then exit (seed non-daemonic mode)' }),
  file_status: Type.Optional(Type.Union([Type.Literal('RERUN'), Type.Literal('UNTRIED')], { description: 'non-daemonic mode: which work to wait for' })),
}, { additionalProperties: false });

export const BackfillSection = Type.Object({
  storage: Type.String({ minLength: 1 }),
  sources: Type.Array(Type.String({ minLength: 1 }), { minItems: 1, description: 'files, directories or globs relative to storage' }),
}, { additionalProperties: false });

export const IngestConfigSchema = Type.Object({
  database: Type.Optional(DatabaseSection),
  finder: Type.Optional(FinderSection),
  ingester: Type.Optional(IngesterSection),
  backfill: Type.Optional(BackfillSection),
}, { additionalProperties: false });

export type IngestConfig = Static<typeof IngestConfigSchema>;
export type FinderConfig = Static<typeof FinderSection>;
export type IngesterConfig = Static<typeof IngesterSection>;

export class IngestConfigError extends Error {
  constructor(message: string) { super(message); this.name = 'IngestConfigError'; }
}

/** env var → config path; values are strings, converted by the schema (JSON for INGEST_PLUGIN_CONFIG). */
export const ENV_OVERRIDES: Record<string, string> = {
  INGEST_DATABASE_URL: 'database.engine',
  INGEST_FINDER_SOURCE: 'finder.source',
  INGEST_FINDER_STORAGE: 'finder.storage',
  INGEST_FINDER_ALTERNATIVE: 'finder.actions.alternative',
  INGEST_FINDER_METHOD: 'finder.search.method',
  INGEST_FINDER_INTERVAL_MS: 'finder.search.interval',
  INGEST_FINDER_COMPLETE: 'finder.search.complete',
  INGEST_FINDER_STABLE_MS: 'finder.search.stableMs',
  INGEST_FINDER_JOURNAL: 'finder.journal',
  INGEST_FINDER_EVENTS_TOPIC: 'finder.events.topic',
  INGEST_QUARANTINE_DIR: 'ingester.quarantine',
  INGEST_PLUGIN: 'ingester.plugin.name',
  INGEST_PLUGIN_CONFIG: 'ingester.plugin.config',
  INGEST_CONCURRENCY: 'ingester.concurrency',
};

function setPath(obj: Record<string, any>, path: string, value: unknown) {
  const parts = path.split('.');
  let o = obj;
  for (const p of parts.slice(0, -1)) o = o[p] && typeof o[p] === 'object' ? o[p] : (o[p] = {});
  const last = parts[parts.length - 1];
  o[last] = value;
}

function coerce(schema: TSchema, value: unknown): unknown {
  return Value.Default(schema, Value.Convert(schema, value));
}

/** Validates a parsed config; the message names the first bad path (e.g. `finder.search.method`). */
export function validateIngestConfig(raw: unknown, what = 'ingest config'): IngestConfig {
  const value = coerce(IngestConfigSchema, raw ?? {});
  if (!Value.Check(IngestConfigSchema, value)) {
    const errs = [...Value.Errors(IngestConfigSchema, value)].slice(0, 3);
    const msg = errs.map((e) => `${e.path.replace(/^\//, '').replace(/\//g, '.') || '(root)'}: ${e.message}`).join('; ');
    throw new IngestConfigError(`${what}: ${msg}`);
  }
  return value as IngestConfig;
}

/** Reads YAML text (or the file named by INGEST_CONFIG when `yamlText` is undefined) and applies env overrides. */
export function loadIngestConfig(env: Env, yamlText?: string, what = env.INGEST_CONFIG ?? 'ingest config'): IngestConfig {
  let raw: Record<string, any> = {};
  const text = yamlText ?? (env.INGEST_CONFIG ? readFileSync(env.INGEST_CONFIG, 'utf8') : undefined);
  if (text !== undefined) {
    try { raw = (parseYaml(text) as Record<string, any>) ?? {}; } catch (err) { throw new IngestConfigError(`${what}: not valid YAML: ${(err as Error).message}`); }
    if (typeof raw !== 'object' || Array.isArray(raw)) throw new IngestConfigError(`${what}: must be a YAML mapping`);
  }
  for (const [name, path] of Object.entries(ENV_OVERRIDES)) {
    const v = env[name];
    if (v === undefined || v === '') continue;
    if (name === 'INGEST_PLUGIN_CONFIG') {
      let parsed: unknown;
      try { parsed = JSON.parse(v); } catch { throw new IngestConfigError(`${name}: must be a JSON object`); }
      setPath(raw, path, { ...(raw.ingester?.plugin?.config ?? {}), ...(parsed as object) });
    } else setPath(raw, path, v);
  }
  return validateIngestConfig(raw, what);
}

/** The ingester section with defaults (Registry plugin) when the config has none. */
export function ingesterOf(cfg: IngestConfig): IngesterConfig {
  return cfg.ingester ?? (validateIngestConfig({ ingester: { plugin: { name: 'Registry' } } }).ingester as IngesterConfig);
}

export function finderOf(cfg: IngestConfig): FinderConfig {
  if (!cfg.finder) throw new IngestConfigError('ingest config: section `finder` (source, storage) is required to run the finder');
  return cfg.finder;
}

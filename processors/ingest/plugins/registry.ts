// Registry plugin: registers each file into a Postgres-backed data repository table (dataset type +
// data id), a stand-in for a Butler registry. The data id comes from FITS header keys and/or named
// groups of a regular expression on the relative path.
import pg from 'pg';
import { extname } from 'node:path';
import { Type, type Static } from '@sinclair/typebox';
import { readFitsHeader, type FitsValue } from '../fits.ts';
import { checkPluginConfig } from './check.ts';
import type { IngestFile, IngestPlugin, IngestResult } from './types.ts';

export const RegistryConfig = Type.Object({
  url: Type.Optional(Type.String({ pattern: '^postgres(ql)?://', description: 'repository database; default database.engine / DATABASE_URL' })),
  schema: Type.String({ pattern: '^[a-z_][a-z0-9_]*$', default: 'ingest_repo' }),
  table: Type.String({ pattern: '^[a-z_][a-z0-9_]*$', default: 'datasets' }),
  datasetType: Type.String({ minLength: 1, default: 'raw' }),
  /** FITS header keys that make up the data id (read from .fits/.fit/.fts/.fz files) */
  headerKeys: Type.Array(Type.String({ minLength: 1 }), { default: [] }),
  /** regular expression on the relative path; its named groups join the data id */
  namePattern: Type.Optional(Type.String({ minLength: 1 })),
  fitsExtensions: Type.Array(Type.String(), { default: ['.fits', '.fit', '.fts', '.fz'] }),
  poolSize: Type.Integer({ minimum: 1, default: 4 }),
}, { additionalProperties: false });
export type RegistryConfig = Static<typeof RegistryConfig>;

export function createRegistryPlugin(rawConfig: unknown, defaults: { databaseUrl: string }): IngestPlugin {
  const cfg = checkPluginConfig('Registry', RegistryConfig, rawConfig);
  const pattern = cfg.namePattern ? new RegExp(cfg.namePattern) : null;
  const pool = new pg.Pool({ connectionString: cfg.url ?? defaults.databaseUrl, max: cfg.poolSize });
  pool.on('error', () => {});
  const table = `"${cfg.schema}"."${cfg.table}"`;
  let ready: Promise<void> | null = null;
  const ensureTable = () => (ready ??= (async () => {
    // IF NOT EXISTS still races between processes (unique violation on the catalog): the loser just goes on
    const racing = (err: { code?: string }) => { if (err.code !== '23505' && err.code !== '42P06' && err.code !== '42P07') throw err; };
    await pool.query(`CREATE SCHEMA IF NOT EXISTS "${cfg.schema}"`).catch(racing);
    await pool.query(`CREATE TABLE IF NOT EXISTS ${table} (
      file_id text PRIMARY KEY, dataset_type text NOT NULL, data_id jsonb NOT NULL, path text NOT NULL,
      checksum text NOT NULL, ingested_at timestamptz NOT NULL DEFAULT now(), UNIQUE (dataset_type, data_id))`).catch(racing);
  })().catch((err) => { ready = null; throw err; }));

  async function dataIdOf(file: IngestFile): Promise<Record<string, FitsValue> | string> {
    const id: Record<string, FitsValue> = {};
    if (pattern) {
      const m = pattern.exec(file.relPath);
      if (!m) return `name ${file.relPath} does not match namePattern ${cfg.namePattern}`;
      Object.assign(id, m.groups ?? {});
    }
    if (cfg.headerKeys.length) {
      const ext = extname(file.path).toLowerCase();
      if (!cfg.fitsExtensions.includes(ext)) return `${file.relPath} is not a FITS file (${cfg.fitsExtensions.join(', ')}) but headerKeys are configured`;
      const header = await readFitsHeader(file.path);
      const missing = cfg.headerKeys.filter((k) => header[k] === undefined || header[k] === null);
      if (missing.length) return `FITS header of ${file.relPath} lacks ${missing.join(', ')}`;
      for (const k of cfg.headerKeys) id[k] = header[k];
    }
    if (!Object.keys(id).length) id.path = file.relPath;
    return id;
  }

  type Queued = { file: IngestFile; dataId: Record<string, FitsValue>; resolve: (r: IngestResult) => void; reject: (err: unknown) => void };
  const queued: Queued[] = [];
  let flushing = 0;
  const BATCH = 1000;

  /** One file's registration (and the refusal of a data id another file holds). */
  async function registerOne(file: IngestFile, dataId: Record<string, FitsValue>): Promise<IngestResult> {
    try {
      await pool.query(
        `INSERT INTO ${table} (file_id, dataset_type, data_id, path, checksum) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (file_id) DO UPDATE SET path = EXCLUDED.path`,
        [file.fileId, cfg.datasetType, JSON.stringify(dataId), file.path, file.checksum],
      );
    } catch (err) {
      if ((err as { code?: string }).code !== '23505') throw err;
      // the (dataset_type, data_id) key belongs to another file: a repository refuses a second dataset with the same id
      const other = await pool.query(`SELECT file_id FROM ${table} WHERE dataset_type = $1 AND data_id = $2`, [cfg.datasetType, JSON.stringify(dataId)]);
      return { status: 'FAILURE', error: `data id ${JSON.stringify(dataId)} (${cfg.datasetType}) is already registered by file ${other.rows[0]?.file_id ?? '?'}`, details: { datasetType: cfg.datasetType, dataId } };
    }
    return { status: 'SUCCESS', details: { datasetType: cfg.datasetType, dataId } };
  }

  /** Registers a batch with one multi-row statement; when that is refused (a data id held by another
   *  file, or one file twice in the batch) each file is registered on its own, in order, so the
   *  outcomes are exactly those of one-by-one registration. */
  async function registerMany(batch: Queued[]): Promise<void> {
    const ids = new Set(batch.map((q) => q.file.fileId));
    if (batch.length > 1 && ids.size === batch.length) {
      try {
        await pool.query(
          `INSERT INTO ${table} (file_id, dataset_type, data_id, path, checksum)
           SELECT f, $2, d, p, c FROM unnest($1::text[], $3::jsonb[], $4::text[], $5::text[]) AS u(f, d, p, c)
           ON CONFLICT (file_id) DO UPDATE SET path = EXCLUDED.path`,
          [batch.map((q) => q.file.fileId), cfg.datasetType, batch.map((q) => JSON.stringify(q.dataId)), batch.map((q) => q.file.path), batch.map((q) => q.file.checksum)],
        );
        for (const q of batch) q.resolve({ status: 'SUCCESS', details: { datasetType: cfg.datasetType, dataId: q.dataId } });
        return;
      } catch (err) {
        if ((err as { code?: string }).code !== '23505') { for (const q of batch) q.reject(err); return; }
      }
    }
    for (const q of batch) await registerOne(q.file, q.dataId).then(q.resolve, q.reject);
  }

  /** Concurrent calls are registered together: one statement in flight per pool connection, each taking
   *  every call queued meanwhile. A flush waits for the end of the event-loop turn, so the files of a
   *  consumer batch (whose checks complete together) go out as one statement, not the first few alone. */
  let scheduled = false;
  function schedule() {
    if (scheduled) return;
    scheduled = true;
    setImmediate(() => { scheduled = false; flush(); });
  }
  function flush() {
    while (queued.length && flushing < cfg.poolSize) {
      const batch = queued.splice(0, BATCH);
      flushing++;
      void registerMany(batch).finally(() => { flushing--; schedule(); });
    }
  }

  return {
    name: 'Registry',
    repeatable: true,
    async ingest(file): Promise<IngestResult> {
      await ensureTable();
      const dataId = await dataIdOf(file);
      if (typeof dataId === 'string') return { status: 'FAILURE', error: dataId };
      return new Promise<IngestResult>((resolve, reject) => {
        queued.push({ file, dataId, resolve, reject });
        schedule();
      });
    },
    async reconcile(file) {
      await ensureTable();
      const { rows } = await pool.query(`SELECT dataset_type, data_id FROM ${table} WHERE file_id = $1`, [file.fileId]);
      if (rows[0]) return { status: 'SUCCESS', details: { datasetType: rows[0].dataset_type, dataId: rows[0].data_id, reconciled: true } };
      return { status: 'FAILURE', error: 'the attempt was interrupted by a crash before the file was registered' };
    },
    async close() { await pool.end(); },
  };
}

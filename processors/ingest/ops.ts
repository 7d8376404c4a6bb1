// Operator tools the CLI wires as `dbb ingest rerun|backfill|finder`: rerun appends
// IngestRerunRequested for matching files (and with `once` runs the ingester until they are done);
// backfill records files already in storage as BACKFILL; finder runs the edge producer.
import type pg from 'pg';
import type { Logger } from 'pino';
import cliProgress from 'cli-progress';
import type { Appender, ConsumerSpec, DomainDeps } from '../../platform/types.ts';
import { newId } from '../../platform/ids.ts';
import { knownFileIds } from '../../projections/ingest/queries.ts';
import { requestReruns, type RerunSelection } from './rerun.ts';
import { createIngestProjection } from '../../projections/ingest/index.ts';
import { runFinder, type Finder } from '../../producers/ingest-finder/index.ts';
import { sha256File } from '../../producers/ingest-finder/fsops.ts';
import { finderOf, loadIngestConfig, type IngestConfig } from '../../domains/ingest/config.ts';
import { expandSources } from './glob.ts';
import { createIngestProcessor } from './index.ts';
import { fileIdOf } from '../../domains/ingest/ids.ts';
import { Limiter } from '../../platform/limiter.ts';

export { requestReruns, type RerunSelection };

export interface OpsDeps {
  appender: Appender;
  db: Pick<pg.Pool, 'query'>;
  log: Logger;
}

/** What `once` needs to run the ingester (the platform from platform/runtime.ts fits). */
export interface OpsPlatform extends OpsDeps {
  domainDeps: DomainDeps;
  startConsumer(spec: ConsumerSpec): Promise<{ stop(): Promise<void> }>;
}

async function rerunsDone(db: OpsDeps['db'], fileIds: string[], eventIds: string[]): Promise<boolean> {
  const { rows } = await db.query(
    `SELECT (SELECT count(*)::int FROM projection_ingest.file_events WHERE event_id = ANY($2)) AS seen,
            (SELECT count(*)::int FROM projection_ingest.files WHERE file_id = ANY($1) AND status IN ('RERUN', 'PENDING', 'UNTRIED')) AS open`,
    [fileIds, eventIds],
  );
  return rows[0].seen === eventIds.length && rows[0].open === 0;
}

/** `dbb ingest rerun --status FAILURE|UNKNOWN [--since] [--file ...] [--once]`. With `once` the ingester
 *  (processor + projection) runs in this process until every requested file has a new outcome. */
export async function rerun(p: OpsPlatform, sel: RerunSelection & { once?: boolean; config?: IngestConfig; pollMs?: number }) {
  const req = await requestReruns(p, sel);
  p.log.info({ files: req.fileIds.length, requestId: req.requestId }, 'ingest: rerun requested');
  if (!sel.once || !req.fileIds.length) return { ...req, done: !sel.once };
  const config = sel.config ?? loadIngestConfig(p.domainDeps.env);
  const consumers = [
    await p.startConsumer(createIngestProcessor(p.domainDeps, { config })),
    await p.startConsumer(createIngestProjection(p.domainDeps)),
  ];
  try {
    while (!(await rerunsDone(p.db, req.fileIds, req.eventIds))) await new Promise((r) => setTimeout(r, sel.pollMs ?? 200));
  } finally {
    for (const c of consumers) await c.stop();
  }
  return { ...req, done: true };
}

/** `dbb ingest backfill --storage DIR SOURCES...`: records files already in storage with status BACKFILL.
 *  Files the projection already knows are skipped; the tool does not check the data repository (seed warning). */
export async function backfill(deps: OpsDeps, opts: { storage: string; sources: string[]; progress?: boolean; concurrency?: number }) {
  const files = await expandSources(opts.storage, opts.sources);
  const bar = opts.progress ? new cliProgress.SingleBar({ format: 'backfill [{bar}] {value}/{total} files', stream: process.stderr }, cliProgress.Presets.shades_classic) : null;
  bar?.start(files.length, 0);
  const limiter = new Limiter(opts.concurrency ?? 32);
  let recorded = 0;
  let skipped = 0;
  const requestId = newId();
  const CHUNK = 500;
  try {
    for (let i = 0; i < files.length; i += CHUNK) {
      const chunk = await Promise.all(files.slice(i, i + CHUNK).map((f) => limiter.run(async () => ({ f, checksum: await sha256File(f.path) }))));
      const withIds = chunk.map((c) => ({ ...c, fileId: fileIdOf(c.f.rel, c.checksum) }));
      const known = await knownFileIds(deps.db, withIds.map((c) => c.fileId));
      await Promise.all(withIds.map(async ({ f, checksum, fileId }) => {
        if (known.has(fileId)) { skipped++; return; }
        await deps.appender.append('FileBackfilled', fileId, { fileId, relPath: f.rel, storagePath: f.path, size: f.size, checksum }, { correlationId: requestId });
        recorded++;
      }));
      bar?.update(Math.min(files.length, i + CHUNK));
    }
  } finally {
    bar?.stop();
  }
  deps.log.info({ found: files.length, recorded, skipped }, 'ingest: backfill done');
  return { found: files.length, recorded, skipped, requestId };
}

/** `dbb ingest finder CONFIG`: runs the finder daemon until `signal` aborts. */
export async function finder(deps: Pick<OpsDeps, 'appender' | 'log'>, opts: { configPath?: string; config?: IngestConfig; env?: Record<string, string | undefined>; signal?: AbortSignal }): Promise<Finder> {
  const env = { ...(opts.env ?? process.env), ...(opts.configPath ? { INGEST_CONFIG: opts.configPath } : {}) };
  const cfg = opts.config ?? loadIngestConfig(env);
  return runFinder(deps, finderOf(cfg), opts.signal);
}

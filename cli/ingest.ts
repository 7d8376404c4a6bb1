// `dbb ingest finder|rerun|backfill` (mounted by cli/domains.ts as `registerIngestCommands(program.command('ingest'), openPlatform)`):
// rerun appends IngestRerunRequested for matching files (and with `once` runs the ingester until
// they are done); backfill records files already in storage as BACKFILL; finder runs the edge producer.
import type { Command } from 'commander';
import type { ConsumerSpec, DomainDeps } from '../platform/types.ts';
import type { Platform } from '../platform/runtime.ts';
import { STATUSES, type IngestStatus } from '../domains/ingest/status.ts';
import type { IngestConfig } from '../domains/ingest/config.ts';
import type { Finder } from '../producers/ingest-finder/index.ts';
import type { OpsDeps } from '../producers/ingest-backfill/index.ts';
import type { RerunSelection } from '../gateway/reruns.ts';
// the rest is imported inside the functions, so that `dbb --help` loads none of it
const ingestConfig = () => import('../domains/ingest/config.ts');

/** What `once` needs to run the ingester (the platform from platform/runtime.ts fits). */
export interface OpsPlatform extends OpsDeps {
  domainDeps: DomainDeps;
  startConsumer(spec: ConsumerSpec): Promise<{ stop(): Promise<void> }>;
}

/** `dbb ingest rerun --status FAILURE|UNKNOWN [--since] [--file ...] [--once]`. With `once` the ingester
 *  (processor + projection) runs in this process until every requested file has a new outcome. */
export async function rerun(p: OpsPlatform, sel: RerunSelection & { once?: boolean; config?: IngestConfig; pollMs?: number }) {
  const [{ requestReruns }, { loadIngestConfig }, { rerunsDone }, { createIngestProjection }, { createIngestProcessor }] = await Promise.all([
    import('../gateway/reruns.ts'), ingestConfig(), import('../projections/ingest/queries.ts'), import('../projections/ingest/index.ts'), import('../processors/ingest/index.ts'),
  ]);
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

/** `dbb ingest finder CONFIG`: runs the finder daemon until `signal` aborts; with `search.method: events`
 *  it consumes the storage-events topic on `deps.platform` (required then) instead of walking the source. */
export async function finder(deps: Pick<OpsDeps, 'appender' | 'log'> & { platform?: Pick<Platform, 'kafka' | 'config' | 'startConsumer'> }, opts: { configPath?: string; config?: IngestConfig; env?: Record<string, string | undefined>; signal?: AbortSignal }): Promise<Finder> {
  const [{ finderOf, loadIngestConfig }, { runFinder }] = await Promise.all([ingestConfig(), import('../producers/ingest-finder/index.ts')]);
  const env = { ...(opts.env ?? process.env), ...(opts.configPath ? { INGEST_CONFIG: opts.configPath } : {}) };
  const cfg = finderOf(opts.config ?? loadIngestConfig(env));
  const f = await runFinder(deps, cfg, opts.signal);
  if (cfg.search.method === 'events') {
    if (!deps.platform) throw new Error('finder: search.method events needs the platform (Kafka, Postgres) to consume storage events');
    const { startStorageEvents } = await import('../producers/ingest-finder/storage-events.ts');
    await startStorageEvents(deps.platform, f, cfg);
  }
  return f;
}

export function registerIngestCommands(ingest: Command, openPlatform: (source: string) => Promise<Platform>): void {
  ingest.command('finder')
    .description('watch/scan the source buffer and move complete files into storage (seed: endmgr finder start finder.yaml)')
    .argument('<config>', 'YAML with a `finder` section; INGEST_* env vars override')
    .action(async (configPath: string) => {
      const { loadIngestConfig } = await ingestConfig();
      const cfg = loadIngestConfig({ ...process.env, INGEST_CONFIG: configPath });
      const p = await openPlatform('ingest-finder');
      const ac = new AbortController();
      const f = await finder({ ...p, platform: p }, { config: cfg, signal: ac.signal });
      const ops = await (await import('../platform/ops-server.ts')).serveOps(p, process.env, p.log); // DBB_METRICS_PORT
      const stop = async () => { ac.abort(); await ops?.close(); await f.stop(); await p.close(); process.exit(0); };
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
    });

  ingest.command('rerun')
    .description('append a RERUN for files in the given status; --once runs the ingester until they are done (seed non-daemonic mode)')
    .requiredOption('--status <status...>', `current status of the files to rerun (${STATUSES.join(', ')})`)
    .option('--since <time>', 'only files whose status was set at or after this ISO 8601 time')
    .option('--file <file...>', 'only these files (file ids, relative paths or storage paths)')
    .option('--reason <text>', 'recorded on the rerun events')
    .option('--once', 'run the ingester in this process until every requested file has a new outcome')
    .option('--config <yaml>', 'ingest YAML (ingester plugin for --once); default INGEST_CONFIG')
    .action(async (o: { status: string[]; since?: string; file?: string[]; reason?: string; once?: boolean; config?: string }) => {
      const statuses = o.status.flatMap((s) => s.split(',')).map((s) => s.trim().toUpperCase());
      const bad = statuses.filter((s) => !(STATUSES as readonly string[]).includes(s));
      if (bad.length) throw new Error(`--status: unknown status ${bad.join(', ')} (known: ${STATUSES.join(', ')})`);
      const since = o.since ? new Date(o.since) : undefined;
      if (since && Number.isNaN(since.getTime())) throw new Error(`--since: not an ISO 8601 time: ${o.since}`);
      const { loadIngestConfig } = await ingestConfig();
      const config = o.once ? loadIngestConfig({ ...process.env, ...(o.config ? { INGEST_CONFIG: o.config } : {}) }) : undefined;
      const p = await openPlatform('ingest-rerun');
      try {
        const r = await rerun(p, { statuses: statuses as IngestStatus[], since, files: o.file, reason: o.reason ?? null, once: o.once, config, actor: process.env.USER ?? null });
        console.log(`${r.fileIds.length} file(s) requested for rerun${o.once ? ', all done' : ''}`);
      } finally {
        await p.close();
      }
    });

  ingest.command('backfill')
    .description('record files already in storage with status BACKFILL (seed: endmgr backfill start backfill.yaml)')
    .option('--storage <dir>', 'storage area (default: backfill.storage of --config)')
    .option('--config <yaml>', 'YAML with a `backfill` section (storage, sources)')
    .argument('[sources...]', 'files, directories or globs relative to the storage area')
    .action(async (sources: string[], o: { storage?: string; config?: string }) => {
      const [{ loadIngestConfig }, { backfill }] = await Promise.all([ingestConfig(), import('../producers/ingest-backfill/index.ts')]);
      const cfg = o.config ? loadIngestConfig({ ...process.env, INGEST_CONFIG: o.config }).backfill : undefined;
      const storage = o.storage ?? cfg?.storage;
      const srcs = sources.length ? sources : cfg?.sources ?? [];
      if (!storage || !srcs.length) throw new Error('backfill needs --storage DIR and at least one source (or --config with a backfill section)');
      const p = await openPlatform('ingest-backfill');
      try {
        const r = await backfill(p, { storage, sources: srcs, progress: process.stderr.isTTY });
        console.log(`${r.found} file(s) found, ${r.recorded} recorded as BACKFILL, ${r.skipped} already known`);
      } finally {
        await p.close();
      }
    });
}

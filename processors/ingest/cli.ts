// `dbb ingest finder|rerun|backfill` as commander subcommands, ready for cli/domains.ts to mount:
// `registerIngestCommands(program.command('ingest'), openPlatform)`.
import type { Command } from 'commander';
import type { Platform } from '../../platform/runtime.ts';
import { loadIngestConfig } from '../../domains/ingest/config.ts';
import { backfill, finder, rerun } from './ops.ts';
import { STATUSES, type IngestStatus } from '../../domains/ingest/status.ts';

export function registerIngestCommands(ingest: Command, openPlatform: (source: string) => Promise<Platform>): void {
  ingest.command('finder')
    .description('watch/scan the source buffer and move complete files into storage (seed: endmgr finder start finder.yaml)')
    .argument('<config>', 'YAML with a `finder` section; INGEST_* env vars override')
    .action(async (configPath: string) => {
      const cfg = loadIngestConfig({ ...process.env, INGEST_CONFIG: configPath });
      const p = await openPlatform('ingest-finder');
      const ac = new AbortController();
      const f = await finder(p, { config: cfg, signal: ac.signal });
      const stop = async () => { ac.abort(); await f.stop(); await p.close(); process.exit(0); };
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

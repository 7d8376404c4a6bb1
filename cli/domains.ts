// Domain commands of `dbb`: gw stream, ingest finder|rerun|backfill, tape wait, ivoa load|stats, rerun tape|staging.
// Each calls a function its domain exports; nothing domain-specific is decided here.
// Imports are lazy (inside the actions) so that `dbb --help` loads none of the platform.
import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Platform } from '../platform/runtime.ts';
import { registerIngestCommands } from './ingest.ts';
import { registerGwCommands } from './gw.ts';
import { registerTapeCommands } from './tape.ts';

const openPlatform = async (source: string): Promise<Platform> => {
  const [{ loadConfig }, { createLogger }, { startPlatform }] = await Promise.all([import('../platform/config.ts'), import('../platform/log.ts'), import('../platform/runtime.ts')]);
  return startPlatform(loadConfig(process.env), { log: createLogger({ level: process.env.LOG_LEVEL ?? 'warn', to: 'stderr' }), source, relay: false });
};

async function withPlatform<T>(source: string, fn: (p: Platform) => Promise<T>): Promise<T> {
  const p = await openPlatform(source);
  try { return await fn(p); } finally { await p.close(); }
}

const devToken = () => {
  try { return readFileSync(join(process.env.DBB_STATE_DIR || join(process.cwd(), '.dbb'), 'dev-token'), 'utf8').trim(); } catch { return undefined; }
};

export function registerDomainCommands(program: Command): void {
  registerGwCommands(program.command('gw').description('GW data buffer'), devToken);

  registerIngestCommands(program.command('ingest').description('file finder and ingester'), openPlatform);

  registerTapeCommands(program.command('tape').description('tape staging jobs'), devToken);

  const ivoa = program.command('ivoa').description('IVOA publishing (ObsCore, TAP, SCS, DataLink)');
  ivoa.command('load').description('append the DIDs and replicas of a JSON-lines dump as events')
    .argument('<file>')
    .action(async (file: string) => withPlatform('dbb-ivoa-load', async (p) => {
      const [{ default: cliProgress }, { loadDidDump }] = await Promise.all([import('cli-progress'), import('../producers/did-feeder/index.ts')]);
      const bar = new cliProgress.SingleBar({ format: 'load [{bar}] {value} events' }, cliProgress.Presets.shades_classic);
      bar.start(0, 0);
      const res = await loadDidDump(p.appender, file, { onProgress: (n) => { bar.setTotal(n); bar.update(n); } });
      bar.stop();
      console.log(`${res.lines} lines → ${res.events} events${res.badLines.length ? `; ${res.badLines.length} bad lines (first: line ${res.badLines[0].line}: ${res.badLines[0].error})` : ''}`);
      if (res.badLines.length) process.exitCode = 1;
    }));
  ivoa.command('stats').description('ObsCore rows, DIDs, replicas and lag behind the log')
    .action(async () => withPlatform('dbb-ivoa-stats', async (p) => {
      const { ivoaStats, formatStats } = await import('../projections/ivoa/stats.ts');
      console.log(formatStats(await ivoaStats({ db: p.db, kafka: p.kafka, config: p.config })));
    }));

  program.command('rerun').description('rerun failed work of a domain (ingest: `dbb ingest rerun`)')
    .argument('<domain>', 'tape | staging')
    .option('--callbacks-failed', 'tape: resend the callbacks whose delivery failed')
    .option('--job <id...>', 'tape: only these job ids')
    .option('--status <status>', 'staging: requests in this status (FAILURE)', 'FAILURE')
    .option('--user <name>', 'staging: only this user\'s requests')
    .option('--since <iso>', 'staging: only requests made since then')
    .action(async (domain: string, o: { callbacksFailed?: boolean; job?: string[]; status: string; user?: string; since?: string }) => {
      await withPlatform('dbb-rerun', async (p) => {
        const { rerunFailedStaging, rerunFailedTapeCallbacks } = await import('../gateway/reruns.ts');
        let ids: (string | number)[];
        if (domain === 'tape' && o.callbacksFailed) {
          ids = await rerunFailedTapeCallbacks({ db: p.db, appender: p.appender }, { actor: 'cli', jobIds: o.job?.map(Number) });
        } else if (domain === 'staging' && o.status === 'FAILURE') {
          const since = o.since ? new Date(o.since) : undefined;
          if (since && Number.isNaN(since.getTime())) throw new Error(`--since ${o.since}: not an ISO 8601 time`);
          ids = await rerunFailedStaging({ db: p.db, appender: p.appender }, { actor: 'cli', username: o.user, since });
        } else {
          throw new Error('supported: dbb rerun tape --callbacks-failed [--job ID...] | dbb rerun staging --status FAILURE [--user U] [--since T]; for ingest use dbb ingest rerun');
        }
        await p.producer.flush();
        console.log(ids.length ? `rerun requested for ${ids.length}: ${ids.slice(0, 20).join(', ')}${ids.length > 20 ? ', …' : ''}` : 'nothing to rerun');
      });
    });
}

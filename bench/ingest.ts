// Benchmark: 10,000 small files dropped into the buffer at once, through the finder (move into storage)
// and the ingester (Registry plugin), beside `mv` of the same number of files in the same run.
// Run: npx tsx bench/ingest.ts [--files 10000]
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLogger } from '../platform/log.ts';
import { createIngestProcessor } from '../processors/ingest/index.ts';
import { createIngestProjection } from '../projections/ingest/index.ts';
import { validateIngestConfig, type FinderConfig } from '../domains/ingest/config.ts';
import { createFinder } from '../producers/ingest-finder/index.ts';
import { startBenchStack, type BenchResult } from './support/stack.ts';


async function makeFiles(dir: string, n: number) {
  for (let d = 0; d * 100 < n; d++) {
    await mkdir(join(dir, `d${d}`), { recursive: true });
    await Promise.all(Array.from({ length: Math.min(100, n - d * 100) }, (_, i) => writeFile(join(dir, `d${d}`, `f${d}-${i}.dat`), `exposure ${d}/${i} ${randomBytes(8).toString('hex')}\n`)));
  }
}

async function until(check: () => Promise<boolean>, timeoutMs: number) {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('benchmark timed out');
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function run(opts: { files?: number; concurrency?: number } = {}): Promise<BenchResult> {
  const n = opts.files ?? 10_000;
  const inFlight = opts.concurrency; // default: finder.concurrency's
  const bench = await startBenchStack('ingest', { env: { INGEST_PLUGIN: 'Registry' } });
  const { config, platform } = bench;
  const work = await mkdtemp(join(tmpdir(), 'ingest-bench-'));
  const log = createLogger({ level: 'warn', name: 'bench-ingest' });
  try {
    await platform.startConsumer(createIngestProcessor(platform.domainDeps));
    await platform.startConsumer(createIngestProjection(platform.domainDeps));

    // baseline: mv of the same number of files (one rename each), same filesystem
    await makeFiles(join(work, 'mv-src'), n);
    await mkdir(join(work, 'mv-dst'));
    const t0 = performance.now();
    const mv = spawnSync('sh', ['-c', `find "${join(work, 'mv-src')}" -type f -exec mv -t "${join(work, 'mv-dst')}" {} +`]);
    if (mv.status !== 0) throw new Error(`mv failed: ${mv.stderr}`);
    const mvS = (performance.now() - t0) / 1000;

    const cfg = validateIngestConfig({ finder: { source: join(work, 'buffer'), storage: join(work, 'storage'), search: { method: 'watch', interval: 200, stableMs: 0 }, ...(inFlight ? { concurrency: inFlight } : {}) } }).finder as FinderConfig;
    await makeFiles(cfg.source, n);
    await mkdir(cfg.storage, { recursive: true });
    const finder = await createFinder({ appender: platform.appender, log }, cfg);
    const repo = () => platform.db.query('SELECT count(*)::int AS n FROM ingest_repo.datasets').then((r) => r.rows[0].n as number, () => 0);
    const projected = () => platform.db.query(`SELECT count(*)::int AS n FROM projection_ingest.files WHERE status = 'SUCCESS'`).then((r) => r.rows[0].n as number);
    const t1 = performance.now();
    finder.start();
    let finderS = 0;
    await until(async () => {
      if (!finderS && finder.stats.move >= n) finderS = (performance.now() - t1) / 1000;
      return (await repo()) >= n;
    }, 30 * 60_000);
    const e2eS = (performance.now() - t1) / 1000;
    await until(async () => (await projected()) >= n, 30 * 60_000);
    const projS = (performance.now() - t1) / 1000;
    await finder.stop();

    const metrics = {
      mv_files_per_s: n / mvS,
      finder_files_per_s: n / finderS,
      end_to_end_files_per_s: n / e2eS,
      end_to_end_with_projection_files_per_s: n / projS,
    };
    return {
      name: 'ingest',
      metrics,
      ratios: {
        finder_vs_mv: metrics.finder_files_per_s / metrics.mv_files_per_s,
        end_to_end_vs_mv: metrics.end_to_end_files_per_s / metrics.mv_files_per_s,
        end_to_end_vs_goal_1000: metrics.end_to_end_files_per_s / 1000,
      },
      notes: [
        `${n} files of ~40 bytes in 100 directories, all present before the finder starts (stableMs 0, watch mode)`,
        `finder: walk + sha256 + one journal entry per batch of ${cfg.concurrency} files (finder.concurrency; two batches at once) + link/unlink into storage + FileDiscovered and FileMoved appended as one group per file`,
        'end to end: until the Registry plugin has registered every file (FileMoved → IngestQueued + attempt → IngestAttempted); with projection: until projection_ingest shows SUCCESS for all',
        'mv baseline: one `mv -t` process renaming every file (no checksum, no events); goals: ≥ 1,000 files/s end to end (≥ 0.05× mv), finder ≥ 0.25× mv',
      ],
    };
  } finally {
    await bench.stop();
    await rm(work, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const arg = (name: string) => { const i = process.argv.indexOf(`--${name}`); return i > 0 ? Number(process.argv[i + 1]) : undefined; };
  run({ files: arg('files'), concurrency: arg('concurrency') })
    .then((r) => { console.log(JSON.stringify(r, null, 2)); process.exit(0); })
    .catch((err) => { console.error(err); process.exit(1); });
}

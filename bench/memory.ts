// Benchmark: resident memory of the gateway and the workers, each in its own process as deployed
// (`dbb run gateway`, `dbb run workers`, plus `dbb ingest finder`), while the GW load (concurrent
// POST /streamdata chunks over HTTP) and then the ingest load (small files dropped into the finder's
// buffer) run through them. Samples VmRSS of each process from /proc every 50 ms and reads VmHWM (the
// kernel's exact peak) at the end of each phase; peaks are reported against the 250 MB goal, beside a
// same-run baseline: an idle `node --import tsx` process (the runtime and loader, no backbone code).
// Run: npx tsx bench/memory.ts [--chunks 400] [--clients 8] [--files 10000] [--semi 16 (MB; 0: node's default)]
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { hashToken } from '../gateway/plugins/auth.ts';
import { sendChunk } from '../producers/gw-streamer/stream.ts';
import type { Env } from '../platform/config.ts';
import { numArg, startBenchStack, until, type BenchResult } from './support/stack.ts';

const GOAL_MB = 250;
const SAMPLES = 16_384;
const DT = 1 / 4096;
const ROOT = join(fileURLToPath(import.meta.url), '..', '..');

/** VmRSS and VmHWM of a process, MB (10^6 bytes). */
function memOf(pid: number): { rss: number; hwm: number } {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(s)?.[1] ?? NaN);
  return { rss: (kb('VmRSS') * 1024) / 1e6, hwm: (kb('VmHWM') * 1024) / 1e6 };
}

const freePort = () => new Promise<number>((resolve, reject) => {
  const srv = createServer();
  srv.listen(0, '127.0.0.1', () => { const a = srv.address(); srv.close(() => (a && typeof a === 'object' ? resolve(a.port) : reject(new Error('no port')))); });
});

/** node arguments of a `dbb` command; DBB_BENCH_NODE_ARGS adds some (e.g. '--heap-prof --heap-prof-dir=/tmp/hp':
 *  where the memory goes, written on exit; or a V8 heap flag to try) */
const dbbArgs = (args: string[]) => [...(process.env.DBB_BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean), '--import', 'tsx', 'cli/dbb.ts', ...args];

/** A `dbb` command as a child process with the bench's env; resolves once its stdout shows `ready`. */
async function spawnDbb(args: string[], env: Env, ready: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, dbbArgs(args), { cwd: ROOT, env: env as NodeJS.ProcessEnv, stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => { out = (out + d.toString()).slice(-10_000); if (out.includes(ready)) resolve(); });
    child.on('exit', (code) => reject(new Error(`dbb ${args.join(' ')} exited with ${code}: ${out.slice(-1000)}`)));
  });
  return child;
}

async function stopChild(child: ChildProcess | undefined) {
  if (!child || child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(t);
}

/** Peak VmRSS per named process while `fn` runs (sampled), and VmHWM after it. */
async function sampled<T>(procs: Record<string, number>, fn: () => Promise<T>): Promise<{ result: T; peakRss: Record<string, number>; hwm: Record<string, number> }> {
  const peakRss: Record<string, number> = Object.fromEntries(Object.keys(procs).map((k) => [k, 0]));
  const sample = () => { for (const [k, pid] of Object.entries(procs)) peakRss[k] = Math.max(peakRss[k], memOf(pid).rss); };
  sample();
  const timer = setInterval(sample, 50);
  try {
    const result = await fn();
    sample();
    return { result, peakRss, hwm: Object.fromEntries(Object.entries(procs).map(([k, pid]) => [k, memOf(pid).hwm])) };
  } finally {
    clearInterval(timer);
  }
}

async function makeFiles(dir: string, n: number) {
  for (let d = 0; d * 100 < n; d++) {
    await mkdir(join(dir, `d${d}`), { recursive: true });
    await Promise.all(Array.from({ length: Math.min(100, n - d * 100) }, (_, i) => writeFile(join(dir, `d${d}`, `f${d}-${i}.dat`), `exposure ${d}/${i} ${randomBytes(8).toString('hex')}\n`)));
  }
}

export async function run(opts: { chunks?: number; clients?: number; files?: number; semiSpaceMb?: number } = {}): Promise<BenchResult> {
  const nChunks = opts.chunks ?? 400;
  // the young generation's cap the image and the systemd units set (NODE_OPTIONS); 0: node's default
  const semi = opts.semiSpaceMb ?? 16;
  const clients = opts.clients ?? 8;
  const nFiles = opts.files ?? 10_000;
  const work = await mkdtemp(join(tmpdir(), 'memory-bench-'));
  const token = `bench-${randomBytes(6).toString('hex')}`;
  const port = await freePort();
  const finderYaml = join(work, 'finder.yaml');
  await writeFile(finderYaml, `finder:\n  source: ${join(work, 'buffer')}\n  storage: ${join(work, 'storage')}\n  search: { method: watch, interval: 200, stableMs: 0 }\n`);
  await mkdir(join(work, 'buffer'), { recursive: true });
  await mkdir(join(work, 'storage'), { recursive: true });
  // the bench's own platform creates the topics and schemas; no relay here, so the workers' relay publishes
  const bench = await startBenchStack('memory', {
    relay: false,
    env: {
      DBB_TOKENS: `bench:producer:${hashToken(token)}`, DBB_PORT: String(port),
      GW_DATA_DIR: join(work, 'gw'), GW_MAX_SIZE: String(2 ** 50), INGEST_PLUGIN: 'Registry', LOG_LEVEL: 'warn',
      ...(semi ? { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --max-semi-space-size=${semi}`.trim() } : {}),
    },
  });
  const { env, platform } = bench;
  const procs: ChildProcess[] = [];
  try {
    const baseline = spawn(process.execPath, ['--import', 'tsx', '-e', 'setInterval(() => {}, 1e6)'], { cwd: ROOT, env: env as NodeJS.ProcessEnv, stdio: 'ignore' });
    procs.push(baseline);
    const gateway = await spawnDbb(['run', 'gateway'], env, 'running gateway');
    procs.push(gateway);
    const workers = await spawnDbb(['run', 'workers'], env, 'running workers');
    procs.push(workers);
    const finder = spawn(process.execPath, dbbArgs(['ingest', 'finder', finderYaml]), { cwd: ROOT, env: env as NodeJS.ProcessEnv, stdio: ['ignore', 'ignore', 'inherit'] });
    procs.push(finder);
    const pids = { gateway: gateway.pid!, workers: workers.pid!, finder: finder.pid!, baseline: baseline.pid! };
    const url = `http://127.0.0.1:${port}`;
    await until(async () => (await fetch(`${url}/readyz`).catch(() => null))?.ok === true, 120_000, 200, 'gateway ready');
    await new Promise((r) => setTimeout(r, 2_000)); // let the freshly started processes settle (JIT, first GCs)
    const idle = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, memOf(pid).rss]));

    // GW load: `clients` concurrent HTTP clients, octet-stream chunks of 128 KiB of strain
    const chunk = Float64Array.from({ length: SAMPLES }, (_, i) => Math.sin(i * 0.01) * 1e-21);
    let next = 0;
    const gw = await sampled(pids, async () => {
      const t = performance.now();
      await Promise.all(Array.from({ length: clients }, async () => {
        while (next < nChunks) {
          const k = next++;
          const answer = await sendChunk({ url, token, binary: true, datastore: 'memory' }, { h: chunk, t0: 1126259462 + k * SAMPLES * DT, dt: DT });
          if (answer.resp !== 'CREATED') throw new Error(`chunk ${k}: ${answer.resp}`);
        }
      }));
      return (performance.now() - t) / 1000;
    });

    // ingest load: `nFiles` small files dropped into the buffer at once, until the registry holds them all
    const ingest = await sampled(pids, async () => {
      const t = performance.now();
      await makeFiles(join(work, 'buffer'), nFiles);
      const ingested = () => platform.db.query('SELECT count(*)::int AS n FROM ingest_repo.datasets').then((r) => r.rows[0].n as number, () => 0);
      await until(async () => (await ingested()) >= nFiles, 30 * 60_000, 200, 'ingested files');
      return (performance.now() - t) / 1000;
    });

    const peak = (k: string) => Math.max(gw.peakRss[k], ingest.peakRss[k], ingest.hwm[k]);
    const metrics: Record<string, number> = {
      max_semi_space_MB: semi,
      gw_chunks: nChunks,
      gw_chunks_per_s: nChunks / gw.result,
      ingest_files: nFiles,
      ingest_files_per_s: nFiles / ingest.result,
      baseline_idle_node_tsx_rss_MB: idle.baseline,
      gateway_idle_rss_MB: idle.gateway,
      gateway_peak_rss_gw_load_MB: gw.peakRss.gateway,
      gateway_peak_rss_ingest_load_MB: ingest.peakRss.gateway,
      gateway_hwm_MB: ingest.hwm.gateway,
      workers_idle_rss_MB: idle.workers,
      workers_peak_rss_gw_load_MB: gw.peakRss.workers,
      workers_peak_rss_ingest_load_MB: ingest.peakRss.workers,
      workers_hwm_MB: ingest.hwm.workers,
      finder_idle_rss_MB: idle.finder,
      finder_peak_rss_ingest_load_MB: ingest.peakRss.finder,
      finder_hwm_MB: ingest.hwm.finder,
    };
    return {
      name: 'memory',
      metrics,
      ratios: {
        gateway_peak_rss_vs_goal_250MB: peak('gateway') / GOAL_MB,
        workers_peak_rss_vs_goal_250MB: peak('workers') / GOAL_MB,
        finder_peak_rss_vs_goal_250MB: peak('finder') / GOAL_MB,
        gateway_idle_vs_bare_node_tsx: idle.gateway / idle.baseline,
        workers_idle_vs_bare_node_tsx: idle.workers / idle.baseline,
      },
      notes: [
        `\`dbb run gateway\`, \`dbb run workers\` (every processor, projection and edge service) and \`dbb ingest finder\` as child processes (node --import tsx, as \`npm start\`; the image runs the compiled build, without the loader), one broker and Postgres shared with the machine`,
        `GW load: ${nChunks} octet-stream chunks of ${SAMPLES} float64 (128 KiB) from ${clients} concurrent HTTP clients; then the ingest load: ${nFiles} small files into the finder's buffer at once, until the Registry plugin holds them all`,
        semi ? `each process with NODE_OPTIONS=--max-semi-space-size=${semi} (as the image and the systemd units): V8's default lets the young generation grow to 64 MB` : 'V8\'s default young generation (up to 64 MB)',
        'peak = max of VmRSS sampled every 50 ms and VmHWM (the kernel\'s high-water mark) at the end; MB = 10^6 bytes; the ratio to the 250 MB goal is ≤ 1 when met',
        'baseline: an idle `node --import tsx` process started in the same run (the runtime and the TypeScript loader, no backbone code)',
      ],
    };
  } finally {
    for (const p of procs.reverse()) await stopChild(p);
    await bench.stop();
    await rm(work, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  run({ chunks: numArg('chunks'), clients: numArg('clients'), files: numArg('files'), semiSpaceMb: numArg('semi') })
    .then((r) => { console.log(JSON.stringify(r, null, 2)); process.exit(0); })
    .catch((err) => { console.error(err); process.exit(1); });
}

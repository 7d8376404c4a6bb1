// Benchmark: 16,384-sample float64 chunks through POST /streamdata over real HTTP with several concurrent
// clients (gateway → Kafka → gw processor → JSON file → outcome → reply), beside the same work done straight
// to disk in the same run, alternating round by round. Run: npx tsx bench/gw.ts [--chunks 600] [--clients 8] [--rounds 3]
// [--datastores N] [--b64] [--no-json] [--split]
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, mkdir, open, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Env } from '../platform/config.ts';
import { createLogger } from '../platform/log.ts';
import { startBenchStack, type BenchResult } from './support/stack.ts';
import { startReplyListener } from '../platform/request-reply.ts';
import { createAuth, hashToken } from '../gateway/plugins/auth.ts';
import { buildApp } from '../gateway/app.ts';
import { createGwProcessor } from '../processors/gw/index.ts';
import { createGwProjection } from '../projections/gw/index.ts';
import { chunkJson, type ChunkFormat } from '../domains/gw/chunk-file.ts';
import { sendChunk } from '../producers/gw-streamer/stream.ts';


const SAMPLES = 16_384;
const DT = 1 / 4096;

function makeChunks(n: number): Float64Array[] {
  return Array.from({ length: n }, (_, k) => Float64Array.from({ length: SAMPLES }, (_, i) => Math.sin((k * SAMPLES + i) * 0.01) * 1e-21 + (i % 7) * 1e-23));
}

async function writeAtomic(dir: string, name: string, body: Buffer | string) {
  const tmp = join(dir, `.${name}.tmp`);
  const fh = await open(tmp, 'w');
  try { await fh.writeFile(body); } finally { await fh.close(); }
  await rename(tmp, join(dir, name));
}

/** The same chunks straight to disk, no backbone: `clients` writers, temp + rename like the processor. */
async function diskBaseline(dir: string, chunks: Float64Array[], clients: number, json: ChunkFormat | 'preformatted' | null): Promise<number> {
  const pre = json === 'preformatted' ? chunks.map((c, k) => chunkJson(c, k, DT)) : [];
  await mkdir(dir, { recursive: true });
  let next = 0;
  const started = performance.now();
  await Promise.all(Array.from({ length: clients }, async () => {
    while (next < chunks.length) {
      const k = next++;
      const c = chunks[k];
      const body = json === 'preformatted' ? pre[k] : json ? chunkJson(c, k, DT, json) : Buffer.from(c.buffer);
      await writeAtomic(dir, `c${k}.${json ? 'json' : 'bin'}`, body);
    }
  }));
  return (performance.now() - started) / 1000;
}

async function throughBackbone(url: string, token: string, chunks: Float64Array[], clients: number, binary: boolean, datastores: string[]): Promise<number> {
  let next = 0;
  const started = performance.now();
  await Promise.all(Array.from({ length: clients }, async (_, client) => {
    const datastore = datastores[client % datastores.length];
    while (next < chunks.length) {
      const k = next++;
      const answer = await sendChunk({ url, token, binary, datastore }, { h: chunks[k], t0: 1126259462 + k * SAMPLES * DT, dt: DT });
      if (answer.resp !== 'CREATED') throw new Error(`chunk ${k}: ${answer.resp}`);
    }
  }));
  return (performance.now() - started) / 1000;
}

/** The HTTP clients in a child process (this file with --client), so their CPU is neither counted
 *  against the backbone nor taken from its event loop. Resolves with the child's wall time, s. */
function clientsInChild(url: string, token: string, from: number, n: number, clients: number, binary: boolean, datastores: string[]): Promise<number> {
  const args = ['--import', 'tsx', fileURLToPath(import.meta.url), '--client', JSON.stringify({ url, token, from, n, clients, binary, datastores })];
  const child = spawn(process.execPath, args, { env: process.env, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
  return new Promise((resolve, reject) => child.on('exit', (code) => {
    const line = out.trim().split('\n').pop() ?? '';
    if (code === 0 && line.startsWith('{')) resolve(JSON.parse(line).seconds);
    else reject(new Error(`bench client exited with ${code}: ${out.slice(-500)}`));
  }));
}

/** `dbb run processor gw` as a child process with the bench's env; resolves once it runs. */
async function spawnProcessor(env: Env): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'cli/dbb.ts', 'run', 'processor', 'gw'], { env: env as NodeJS.ProcessEnv, stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => { if (d.toString().includes('running processor')) resolve(); });
    child.on('exit', (code) => reject(new Error(`processor exited with ${code}`)));
  });
  return child;
}

const median = (xs: number[]) => { const v = xs.filter(Number.isFinite).sort((x, y) => x - y); return v.length ? (v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2) : NaN; };

export async function run(opts: { chunks?: number; clients?: number; json?: boolean; format?: ChunkFormat; datastores?: number; split?: boolean; rounds?: number } = {}): Promise<BenchResult> {
  const nChunks = opts.chunks ?? 600;
  const clients = opts.clients ?? 8;
  const format = opts.format ?? 'json';
  // the baseline and the backbone alternate, round by round, and each ratio is the median of the
  // rounds' ratios: on a machine whose load swings within seconds, a ratio of two measurements taken
  // a minute apart says more about the load than about the code
  const rounds = Math.max(1, opts.rounds ?? 3);
  const stores = Array.from({ length: opts.datastores ?? 1 }, (_, i) => `bench${i}`);
  const work = await mkdtemp(join(tmpdir(), 'gw-bench-'));
  const token = `bench-${randomBytes(6).toString('hex')}`;
  const bench = await startBenchStack('gw', {
    env: {
      DBB_TOKENS: `bench:producer:${hashToken(token)}`,
      GW_DATA_DIR: join(work, 'buffer'),
      GW_MAX_SIZE: String(2 ** 50),
      GW_FILE_FORMAT: format,
    },
  });
  const { env, config, platform } = bench;
  const log = createLogger({ level: 'warn', name: 'bench-gw' });
  const replies = await startReplyListener({ config, kafka: platform.kafka, serde: platform.serde, appender: platform.appender, log });
  const app = await buildApp({ config, env, db: platform.db, appender: platform.appender, replies, auth: createAuth(config), log });
  let child: ChildProcess | undefined;
  try {
    if (opts.split) child = await spawnProcessor(env);
    else await platform.startConsumer(createGwProcessor(platform.domainDeps));
    await platform.startConsumer(createGwProjection(platform.domainDeps));
    const url = (await app.listen({ host: '127.0.0.1', port: 0 })).replace('localhost', '127.0.0.1');
    const chunks = makeChunks(nChunks);
    const perRound = Math.ceil(nChunks / rounds);
    const mbOf = (n: number) => (n * SAMPLES * 8) / 1e6; // strain bytes, MB

    await throughBackbone(url, token, chunks.slice(0, 20), clients, true, ['warmup']);
    // CPU time of this process per phase: less sensitive than wall time to a machine shared with others
    // (it leaves out the broker's and Postgres's CPU)
    const cpu = async <T>(fn: () => Promise<T>): Promise<[T, number]> => { const c = process.cpuUsage(); const r = await fn(); const d = process.cpuUsage(c); return [r, (d.user + d.system) / 1000]; };
    const rawS = await diskBaseline(join(work, 'raw'), chunks, clients, null);
    const preS = await diskBaseline(join(work, 'pre'), chunks, clients, format === 'json' ? 'preformatted' : format);
    const r = { disk: [] as number[], diskCpu: [] as number[], octet: [] as number[], octetCpu: [] as number[], json: [] as number[], octetRatio: [] as number[], jsonRatio: [] as number[], n: [] as number[], nJson: [] as number[] };
    for (let k = 0; k < rounds; k++) {
      const slice = chunks.slice(k * perRound, (k + 1) * perRound);
      if (!slice.length) break;
      const nJson = Math.ceil(slice.length / 4);
      const [diskS, diskCpu] = await cpu(() => diskBaseline(join(work, `json${k}`), slice, clients, format));
      const [octS, octCpu] = await cpu(() => clientsInChild(url, token, k * perRound, slice.length, clients, true, stores));
      const jsonS = opts.json === false ? NaN : await clientsInChild(url, token, k * perRound, nJson, clients, false, stores.map((s) => `${s}j`));
      const diskMBs = mbOf(slice.length) / diskS;
      r.n.push(slice.length); r.nJson.push(nJson);
      r.disk.push(diskS); r.diskCpu.push(diskCpu); r.octet.push(octS); r.octetCpu.push(octCpu); r.json.push(jsonS);
      r.octetRatio.push(mbOf(slice.length) / octS / diskMBs);
      r.jsonRatio.push(mbOf(nJson) / jsonS / diskMBs);
    }
    const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
    const nDone = sum(r.n);
    const metrics = {
      'octet_chunks_per_s': nDone / sum(r.octet),
      'octet_MB_per_s': mbOf(nDone) / sum(r.octet),
      'json_body_chunks_per_s': sum(r.nJson) / sum(r.json),
      'json_body_MB_per_s': mbOf(sum(r.nJson)) / sum(r.json),
      'disk_raw_MB_per_s': mbOf(nChunks) / rawS,
      'disk_same_files_preformatted_MB_per_s': mbOf(nChunks) / preS,
      'disk_json_files_MB_per_s': mbOf(nDone) / sum(r.disk),
      'octet_cpu_ms_per_chunk': sum(r.octetCpu) / nDone,
      'disk_json_files_cpu_ms_per_chunk': sum(r.diskCpu) / nDone,
    };
    const f2 = (xs: number[]) => xs.map((x) => x.toFixed(2)).join(' / ');
    return {
      name: 'gw',
      metrics,
      ratios: {
        'octet_vs_disk_raw': metrics.octet_MB_per_s / metrics.disk_raw_MB_per_s,
        'octet_vs_disk_same_files_preformatted': metrics.octet_MB_per_s / metrics.disk_same_files_preformatted_MB_per_s,
        'octet_vs_disk_json_files': median(r.octetRatio),
        'json_body_vs_disk_json_files': median(r.jsonRatio),
        'cpu_per_chunk_disk_json_files_vs_octet': median(r.diskCpu.map((c, k) => c / r.octetCpu[k])),
      },
      notes: [
        `${nChunks} chunks × ${SAMPLES} float64 (${(SAMPLES * 8) / 1024} KiB of strain each), ${clients} concurrent HTTP clients over ${stores.length} datastore(s), file format ${format}, processor ${opts.split ? 'in its own process' : 'in the gateway process'}, HTTP clients in a child process; cpu = this process (gateway + processor + projection), not the broker's or Postgres's; MB = 10^6 bytes of strain`,
        'disk_raw: the float64 bytes as files (temp+rename, same clients); disk_same_files_preformatted: the processor\'s file bytes, already formatted, written straight to disk; disk_json_files: format + write, no backbone',
        `${rounds} rounds, each: disk_json_files, then octet-stream bodies, then JSON bodies (a quarter of the chunks); octet_vs_disk_json_files, json_body_vs_disk_json_files and the cpu ratio are the median of the rounds' ratios (octet ${f2(r.octetRatio)}; JSON ${f2(r.jsonRatio)}), the MB/s metrics are totals over the rounds`,
      ],
    };
  } finally {
    child?.kill('SIGTERM');
    await app.close().catch(() => {});
    await replies.stop().catch(() => {});
    await bench.stop();
    await rm(work, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv[2] === '--client') {
  const o = JSON.parse(process.argv[3]) as { url: string; token: string; from: number; n: number; clients: number; binary: boolean; datastores: string[] };
  const chunks = makeChunks(o.from + o.n).slice(o.from);
  throughBackbone(o.url, o.token, chunks, o.clients, o.binary, o.datastores)
    .then((seconds) => { console.log(JSON.stringify({ seconds })); process.exit(0); })
    .catch((err) => { console.error(err); process.exit(1); });
} else if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const arg = (name: string) => { const i = process.argv.indexOf(`--${name}`); return i > 0 ? Number(process.argv[i + 1]) : undefined; };
  const fmt = process.argv.includes('--b64') ? 'json-b64' : 'json';
  run({ chunks: arg('chunks'), clients: arg('clients'), datastores: arg('datastores'), rounds: arg('rounds'), format: fmt, json: !process.argv.includes('--no-json'), split: process.argv.includes('--split') })
    .then((r) => { console.log(JSON.stringify(r)); process.exit(0); })
    .catch((err) => { console.error(err); process.exit(1); });
}

// Benchmark: local_copy of a 1 GiB file (the effect alone and end to end through POST /stage_data
// over HTTP) beside `cp` of the same file in the same run, and hard link / symlink requests per
// second end to end over HTTP beside the same link(2)/symlink(2) calls made directly.
// Run: npx tsx bench/staging.ts [--gib 1] [--links 2000] [--clients 64]
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { mkdtemp, mkdir, open, rm, link, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import { startReplyListener } from '../platform/request-reply.ts';
import { createAuth, hashToken } from '../gateway/plugins/auth.ts';
import { buildApp } from '../gateway/app.ts';
import { createStagingProcessor } from '../processors/staging/index.ts';
import { createStagingProjection } from '../projections/staging/index.ts';
import { loadStagingConfig } from '../domains/staging/config.ts';
import { localCopy } from '../processors/staging/effects.ts';
import { machine, numArg, startBenchStack, type BenchResult } from './support/stack.ts';


/** A non-sparse file of `bytes` (a random MiB repeated): cp and we both have to move every byte. */
async function makeFile(path: string, bytes: number) {
  const block = randomBytes(1 << 20);
  const fh = await open(path, 'w');
  try {
    for (let pos = 0; pos < bytes; pos += block.length) await fh.write(block, 0, Math.min(block.length, bytes - pos), pos);
  } finally {
    await fh.close();
  }
}

const seconds = async (fn: () => Promise<unknown> | unknown) => { const t = performance.now(); await fn(); return (performance.now() - t) / 1000; };

async function post(url: string, token: string, method: string, username: string, src: string, dst: string) {
  const res = await fetch(`${url}/stage_data?method=${method}&username=${username}`, {
    method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ local_path_on_storage: src, relative_path: dst }),
  });
  const body = await res.text();
  if (res.status !== 200) throw new Error(`${method} ${dst}: ${res.status} ${body}`);
}

/** The HTTP clients run in a worker thread so they do not share the event loop with the backbone. */
const CLIENT_WORKER = `
const { parentPort, workerData: w } = require('node:worker_threads');
(async () => {
  let next = 0;
  const times = [];
  const one = async (i) => {
    const sent = Date.now();
    const res = await fetch(w.url + '/stage_data?method=' + w.method + '&username=' + w.username, {
      method: 'POST', headers: { authorization: 'Bearer ' + w.token, 'content-type': 'application/json' },
      body: JSON.stringify({ local_path_on_storage: w.src.replace('{i}', String(i)), relative_path: w.prefix + i + '.bin' }),
    });
    const body = await res.text();
    if (res.status !== 200) throw new Error(w.method + ' ' + i + ': ' + res.status + ' ' + body);
    times.push([JSON.parse(body).request_id, sent, Date.now()]);
  };
  const t = performance.now();
  await Promise.all(Array.from({ length: w.clients }, async () => { while (next < w.n) await one(next++); }));
  parentPort.postMessage({ seconds: (performance.now() - t) / 1000, times });
})().catch((err) => { throw err; });
`;

type Timed = { seconds: number; times: [string, number, number][] };

function linkRequests(w: { url: string; token: string; method: string; username: string; src: string; prefix: string; n: number; clients: number }): Promise<Timed> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(CLIENT_WORKER, { eval: true, workerData: w });
    worker.once('message', resolve);
    worker.once('error', reject);
  });
}

async function pool(n: number, clients: number, fn: (i: number) => Promise<void>) {
  let next = 0;
  await Promise.all(Array.from({ length: clients }, async () => { while (next < n) await fn(next++); }));
}

export async function run(opts: { gib?: number; links?: number; clients?: number } = {}): Promise<BenchResult> {
  const size = Math.round((opts.gib ?? 1) * 1024 ** 3);
  const nLinks = opts.links ?? 2000;
  const clients = opts.clients ?? 64;
  const work = await mkdtemp(join(tmpdir(), 'staging-bench-'));
  const root = join(work, 'storage');
  const users = join(work, 'users');
  await mkdir(root, { recursive: true });
  await mkdir(users, { recursive: true });
  const token = `bench-${randomBytes(4).toString('hex')}`;
  const bench = await startBenchStack('staging', {
    // The bench sends every request as one user: no per-user cap, so it measures the backbone, not the queue.
    env: { DBB_TOKENS: `bench:producer:${hashToken(token)}`, STAGING_MAX_ACTIVE_PER_USER: '0', STAGING_STORAGE_ROOT: root, STAGING_USER_AREA_TEMPLATE: join(users, '{username}') },
  });
  const { platform, config, env } = bench;
  const log = platform.log;
  const replies = await startReplyListener({ config, kafka: platform.kafka, serde: platform.serde, appender: platform.appender, log });
  const app = await buildApp({ config, env, db: platform.db, appender: platform.appender, replies, auth: createAuth(config), log });
  try {
    await platform.startConsumer(createStagingProcessor(platform.domainDeps));
    await platform.startConsumer(createStagingProjection(platform.domainDeps));
    const url = (await app.listen({ host: '127.0.0.1', port: 0 })).replace('localhost', '127.0.0.1');
    const cfg = loadStagingConfig(env);

    const src = join(root, 'big.bin');
    await makeFile(src, size);
    await writeSmall(join(root, 'small.dat'));
    await post(url, token, 'local_copy', 'warm', 'small.dat', 'w.dat');

    // link requests first (before GBs of dirty pages slow every fsync), end to end vs the same syscalls
    // made directly; one small source per request, as staging distinct files (links to a single inode
    // serialize on that inode in the kernel)
    await mkdir(join(root, 'many'));
    for (let i = 0; i < nLinks; i++) await writeSmall(join(root, 'many', `f${i}.dat`));
    const directS = await seconds(async () => {
      await mkdir(join(work, 'direct'));
      await pool(nLinks, clients, async (i) => { await link(join(root, 'many', `f${i}.dat`), join(work, 'direct', `h${i}`)); await symlink(join(root, 'many', `f${i}.dat`), join(work, 'direct', `s${i}`)); });
    });
    // how busy the one event loop (gateway, processor, projection, reply listener) was meanwhile: near 1 = it is the bottleneck
    const elu0 = performance.eventLoopUtilization();
    const cpu0 = process.cpuUsage(); // the whole process: backbone thread, the HTTP clients' worker, libuv threads
    const hard = await linkRequests({ url, token, method: 'symlink_copy', username: 'linker', src: 'many/f{i}.dat', prefix: 'h/', n: nLinks, clients });
    const soft = await linkRequests({ url, token, method: 'local_symlink', username: 'linker', src: 'many/f{i}.dat', prefix: 's/', n: nLinks, clients });
    const linksLoopBusy = performance.eventLoopUtilization(elu0).utilization;
    const cpu = process.cpuUsage(cpu0);
    const linksCpuMsPerRequest = (cpu.user + cpu.system) / 1000 / (2 * nLinks);
    const hardS = hard.seconds;
    const softS = soft.seconds;
    // where a request's time goes: client send → gateway append (requested_at) → effect start → effect end → reply received
    const { rows: stamps } = await platform.db.query(
      `SELECT request_id, extract(epoch FROM requested_at) * 1000 AS a, extract(epoch FROM started_at) * 1000 AS s, extract(epoch FROM finished_at) * 1000 AS f
       FROM projection_staging.staging_requests WHERE username = 'linker'`);
    const at = new Map(stamps.map((r) => [r.request_id as string, r]));
    const median = (xs: number[]) => xs.sort((x, y) => x - y)[Math.floor(xs.length / 2)] ?? NaN;
    const split = [...hard.times, ...soft.times].flatMap(([id, sent, got]) => { const r = at.get(id); return r ? [[Number(r.a) - sent, Number(r.s) - Number(r.a), Number(r.f) - Number(r.s), got - Number(r.f)]] : []; });
    // idle: one request at a time (nothing else in flight), append → effect and the whole request
    const idleN = Math.min(100, nLinks);
    const idleMs: number[] = [];
    for (let i = 0; i < idleN; i++) {
      const t = performance.now();
      await post(url, token, 'local_symlink', 'idler', `many/f${i}.dat`, `i/${i}.bin`);
      idleMs.push(performance.now() - t);
    }
    const { rows: idle } = await platform.db.query(
      `SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM started_at - requested_at) * 1000) AS wait_ms
       FROM projection_staging.staging_requests WHERE username = 'idler'`);
    const { rows: lat } = await platform.db.query(
      `SELECT method, percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM started_at - requested_at) * 1000) AS wait_ms,
              percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM finished_at - started_at) * 1000) AS effect_ms
       FROM projection_staging.staging_requests WHERE username = 'linker' GROUP BY method`);
    const latOf = (m: string) => lat.find((r) => r.method === m) ?? { wait_ms: NaN, effect_ms: NaN };

    // interleaved, best of 2, destinations removed between runs so every run writes all bytes
    const cpS: number[] = []; const cpHashS: number[] = []; const effectS: number[] = []; const e2eS: number[] = [];
    const sh = (cmd: string, args: string[]) => { const r = spawnSync(cmd, args); if (r.status !== 0) throw new Error(`${cmd} failed: ${r.stderr}`); };
    for (let k = 0; k < 2; k++) {
      const cpDst = join(work, `cp-${k}.bin`);
      cpS.push(await seconds(() => sh('cp', [src, cpDst])));
      await rm(cpDst);
      // second baseline: what a careful user does by hand (copy, then hash the copy with OpenSSL, as we do)
      cpHashS.push(await seconds(() => { sh('cp', [src, cpDst]); sh('openssl', ['dgst', '-sha256', cpDst]); }));
      await rm(cpDst);
      effectS.push(await seconds(async () => {
        const r = await localCopy({ kind: 'local_copy', requestId: `bench-effect-${k}`, username: 'copier', source: ['big.bin'], dest: [`effect-${k}.bin`] }, { cfg, now: Date.now });
        if (!r.ok) throw new Error(r.reason);
      }));
      await rm(join(users, 'copier', `effect-${k}.bin`), { force: true });
      e2eS.push(await seconds(() => post(url, token, 'local_copy', 'copier', 'big.bin', `e2e-${k}.bin`)));
      await rm(join(users, 'copier', `e2e-${k}.bin`), { force: true });
    }
    const gb = size / 1e9;
    const best = (xs: number[]) => Math.min(...xs);

    const metrics = {
      cp_GB_per_s: gb / best(cpS),
      cp_then_openssl_sha256_GB_per_s: gb / best(cpHashS),
      local_copy_effect_GB_per_s: gb / best(effectS),
      local_copy_e2e_GB_per_s: gb / best(e2eS),
      hard_link_requests_per_s: nLinks / hardS,
      symlink_requests_per_s: nLinks / softS,
      direct_link_plus_symlink_pairs_per_s: nLinks / directS,
      hard_link_median_wait_before_effect_ms: Number(latOf('symlink_copy').wait_ms),
      hard_link_median_effect_ms: Number(latOf('symlink_copy').effect_ms),
      symlink_median_wait_before_effect_ms: Number(latOf('local_symlink').wait_ms),
      symlink_median_effect_ms: Number(latOf('local_symlink').effect_ms),
      idle_median_append_to_effect_ms: Number(idle[0]?.wait_ms ?? NaN),
      links_event_loop_utilization: linksLoopBusy,
      links_process_cpu_ms_per_request: linksCpuMsPerRequest,
      links_median_send_to_append_ms: median(split.map((x) => x[0]!)),
      links_median_append_to_effect_ms: median(split.map((x) => x[1]!)),
      links_median_effect_ms: median(split.map((x) => x[2]!)),
      links_median_effect_end_to_reply_ms: median(split.map((x) => x[3]!)),
      idle_median_request_ms: idleMs.sort((a, b) => a - b)[Math.floor(idleMs.length / 2)]!,
    };
    return {
      name: 'staging',
      metrics,
      ratios: {
        local_copy_effect_vs_cp: metrics.local_copy_effect_GB_per_s / metrics.cp_GB_per_s,
        local_copy_e2e_vs_cp: metrics.local_copy_e2e_GB_per_s / metrics.cp_GB_per_s,
        local_copy_e2e_vs_cp_then_sha256: metrics.local_copy_e2e_GB_per_s / metrics.cp_then_openssl_sha256_GB_per_s,
        hard_link_requests_vs_direct_syscalls: metrics.hard_link_requests_per_s / (metrics.direct_link_plus_symlink_pairs_per_s * 2),
        symlink_requests_vs_direct_syscalls: metrics.symlink_requests_per_s / (metrics.direct_link_plus_symlink_pairs_per_s * 2),
        hard_link_requests_vs_goal_500: metrics.hard_link_requests_per_s / 500,
        symlink_requests_vs_goal_500: metrics.symlink_requests_per_s / 500,
        idle_append_to_effect_vs_goal_20ms: metrics.idle_median_append_to_effect_ms / 20,
      },
      notes: [
        `machine: ${JSON.stringify(machine())}`,
        `${(size / 1024 ** 3).toFixed(2)} GiB non-sparse source in page cache; cp and local_copy interleaved, best of 2; GB = 10^9 bytes`,
        `local_copy = kernel copy (fs.copyFile: reflink or copy_file_range) to a temp name, then the copy hashed (sha256, worker thread) while compared byte for byte with the source and fsynced, chmod 0444, link to the final name (processors/staging/effects.ts); e2e adds HTTP + Kafka + processor + reply`,
        'second baseline: `cp` then `openssl dgst -sha256` of the copy (a hash needs one sequential pass at OpenSSL speed, which bounds any hashing copy)',
        `${nLinks} hard link and ${nLinks} symlink requests (one small source file each) over HTTP with ${clients} concurrent clients in a worker thread (each: StagingRequested → processor → FileStaged → reply)`,
        'links_process_cpu_ms_per_request: CPU time (user + system) of this process, HTTP clients included, per link request; Kafka and Postgres are other processes',
        'links_median_*: each link request split at the projection\'s requested_at (the gateway\'s append), started_at and finished_at (the processor\'s clock: same machine), and the client\'s send and receive times',
        `idle: ${idleN} symlink requests one after another (1 client); append → effect = started_at − requested_at in projection_staging (requested_at is the gateway's append time)`,
        'goals: local_copy ≥ 90 % of cp; link requests ≥ 500/s; idle append → effect ≤ 20 ms (a goal ratio ≤ 1 is met)',
      ],
    };
  } finally {
    await app.close().catch(() => {});
    await replies.stop().catch(() => {});
    await bench.stop();
    await rm(work, { recursive: true, force: true });
  }
}

async function writeSmall(path: string) {
  const fh = await open(path, 'w');
  try { await fh.writeFile('warm-up\n'); } finally { await fh.close(); }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  run({ gib: numArg('gib'), links: numArg('links'), clients: numArg('clients') })
    .then((r) => { console.log(JSON.stringify(r, null, 2)); process.exit(0); })
    .catch((err) => { console.error(err); process.exit(1); });
}

// Broker restart mid-stream: a private Kafka (own port and state dir, so the shared broker other test
// files use is never touched) is SIGKILLed while events are being appended and consumed by the sample
// projection, then restarted; appending continues (failed appends are retried with the same eventId),
// and once the broker is back every appended event is applied exactly once (count, sum, applied = 1).
// Known failure until platform/producer.ts replaces its kafkajs producer after a failed send: kafkajs rolls
// its idempotence sequence numbers back when a send fails even if the broker wrote the batch, so the next,
// different batch reuses them and is acknowledged as a duplicate without being written (diagnose() below
// then prints ~one batch of events ABSENT from the log and as many duplicate records).
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { isAlive, portOpen } from '../infra/proc.ts';
import { ns } from '../platform/config.ts';
import { TOPIC } from '../schemas/generated/index.ts';
import { libDir } from '../infra/maven.ts';
import { createSampleProjection } from './support/sample/index.ts';
import { eventually, startTestStack, type TestStack } from './support/stack.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const SHARED_STATE = process.env.DBB_STATE_DIR ?? join(ROOT, '.dbb');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let dir: string;
let port: number;
let stack: TestStack | undefined;

function free(p: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(p, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/** A port p with p + 1 (the controller) free too. */
async function freePortPair(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const p = 20_000 + Math.floor(Math.random() * 20_000) * 2;
    if ((await free(p)) && (await free(p + 1))) return p;
  }
  throw new Error('no free port pair');
}

/** `infra/cli.ts up` on the private state dir and port: starts (or waits for) the private broker. */
function brokerUp(): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'infra', 'cli.ts'), 'up', '--state-dir', dir], {
      cwd: ROOT,
      env: { ...process.env, DBB_KAFKA_PORT: String(port), DBB_KAFKA_CDS: '0', DBB_KAFKA_HEAP: '512m' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`private broker did not start (exit ${code}):\n${out.slice(-4000)}`))));
  });
}

function brokerPid(): number | null {
  try { return Number(readFileSync(join(dir, 'run', 'kafka.pid'), 'utf8').trim()) || null; } catch { return null; }
}

/** SIGKILL of the private broker (only the pid our state dir's pid file names, and only if its command line is ours). */
async function killBroker(): Promise<void> {
  const pid = brokerPid();
  if (!pid || !isAlive(pid)) return;
  const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  if (!cmdline.includes(`-Ddbb.stateDir=${dir}`)) throw new Error(`pid ${pid} is not the private broker`);
  process.kill(pid, 'SIGKILL');
  await eventually(() => expect(isAlive(pid)).toBe(false), { timeoutMs: 30_000 });
  await eventually(async () => expect(await portOpen('127.0.0.1', port)).toBe(false), { timeoutMs: 30_000 });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'dbb-broker-restart-'));
  // reuse the shared stack's jars (read only) instead of a Maven copy
  const shared = libDir(SHARED_STATE, 'kafka');
  if (existsSync(join(shared, '.complete'))) {
    mkdirSync(join(dir, 'lib'), { recursive: true });
    symlinkSync(shared, libDir(dir, 'kafka'));
  }
  port = await freePortPair();
  await brokerUp();
  stack = await startTestStack({
    consumers: () => [createSampleProjection()],
    // kafkajs reports every refused connection while the broker is down: keep the output readable
    env: { KAFKA_BROKERS: `127.0.0.1:${port}`, DBB_SESSION_TIMEOUT_MS: '10000', LOG_LEVEL: process.env.LOG_LEVEL ?? 'error' },
  });
}, 240_000);

afterAll(async () => {
  await stack?.stop();
  if (dir) {
    await killBroker().catch(() => {});
    // a broker still starting when a hook timed out has no pid file yet: find it by its state dir
    for (const p of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
      try { if (readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(`-Ddbb.stateDir=${dir}`)) process.kill(Number(p), 'SIGKILL'); } catch { /* gone */ }
    }
    rmSync(dir, { recursive: true, force: true });
  }
}, 120_000);

async function totals() {
  const { rows } = await stack!.db.query(`
    SELECT count(*)::int AS n, coalesce(sum(value), 0)::bigint AS sum, coalesce(min(applied), 0)::int AS min_applied, coalesce(max(applied), 0)::int AS max_applied
    FROM projection_sample.samples`);
  return { ...rows[0], sum: Number(rows[0].sum) } as { n: number; sum: number; min_applied: number; max_applied: number };
}

/** What is missing from the projection, whether the log has it, and where each partition's stored offset stands. */
async function diagnose(n: number): Promise<string> {
  const s = stack!;
  const { rows } = await s.db.query('SELECT sample_id FROM projection_sample.samples');
  const have = new Set(rows.map((r) => r.sample_id as string));
  const missing = Array.from({ length: n }, (_, i) => `s${i}`).filter((id) => !have.has(id));
  const topic = ns(s.config, TOPIC.EXAMPLE_SAMPLES);
  const admin = s.platform.kafka.admin();
  await admin.connect();
  const ends = await admin.fetchTopicOffsets(topic);
  await admin.disconnect();
  const total = ends.reduce((a, p) => a + Number(p.high), 0);
  const inLog = new Map<string, string[]>();
  const consumer = s.platform.kafka.consumer({ groupId: `${s.config.namespace}diagnose-${Date.now()}` });
  let seen = 0;
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  await consumer.run({ eachMessage: async ({ partition, message }) => {
    seen++;
    const d = await s.platform.serde.decode(message.value).catch(() => null);
    const id = d?.value.sampleId as string | undefined;
    if (id && missing.includes(id)) inLog.set(id, [...(inLog.get(id) ?? []), `p${partition}@${message.offset}`]);
  } });
  await eventually(() => expect(seen).toBeGreaterThanOrEqual(total), { timeoutMs: 60_000 }).catch(() => {});
  await consumer.disconnect();
  const { rows: offsets } = await s.db.query('SELECT topic, partition, next_offset FROM projection_sample.consumer_offsets ORDER BY partition');
  return [
    `missing ${missing.length}: ${missing.slice(0, 40).join(' ')}`,
    `in the log: ${missing.slice(0, 40).map((id) => `${id}=${inLog.get(id)?.join(',') ?? 'ABSENT'}`).join(' ')}`,
    `log ends: ${ends.map((p) => `p${p.partition} ${p.low}..${p.high}`).join(', ')} (${seen} records read)`,
    `stored offsets: ${offsets.map((o) => `p${o.partition} ${o.next_offset}`).join(', ')}`,
  ].join('\n');
}

it('applies every event exactly once across a broker SIGKILL and restart mid-stream', async () => {
  const s = stack!;
  let issued = 0;
  let producing = true;
  let failedAppends = 0;
  const appends: Promise<void>[] = [];
  // one event: retried with the same eventId until the broker acknowledges it (duplicates are dropped by eventId)
  const appendOnce = async (i: number, eventId: string) => {
    for (let attempt = 0; ; attempt++) {
      try {
        await s.appender.append('SampleRecorded', `key-${i % 31}`, { sampleId: `s${i}`, value: i, payload: Buffer.alloc(0) }, { eventId });
        return;
      } catch {
        failedAppends++;
        await sleep(Math.min(2000, 100 * 2 ** attempt));
      }
    }
  };
  // ~200 events/s, continuously, whatever the broker is doing
  const producer = (async () => {
    while (producing) {
      for (let j = 0; j < 10; j++, issued++) appends.push(appendOnce(issued, randomUUID()));
      await sleep(50);
    }
  })();

  await eventually(async () => expect((await totals()).n).toBeGreaterThanOrEqual(1000), { timeoutMs: 60_000, intervalMs: 50 });
  const issuedAtKill = issued;
  await killBroker();
  const appliedAtKill = (await totals()).n;
  await sleep(2000); // appends keep being issued (and failing/retrying) while the broker is down
  await brokerUp();
  const issuedAtRestart = issued;
  // keep producing after the restart until the projection has applied events issued after it
  await eventually(async () => expect((await totals()).n).toBeGreaterThan(issuedAtRestart + 200), { timeoutMs: 180_000, intervalMs: 100 });
  producing = false;
  await producer;
  await Promise.all(appends);
  const n = issued;
  console.log(`broker restart: ${n} events issued (${issuedAtKill} before the kill, ${issuedAtRestart} before the restart); ${appliedAtKill} applied at the kill; ${failedAppends} failed appends retried`);

  expect(appliedAtKill).toBeLessThan(n);
  expect(issuedAtRestart).toBeGreaterThan(issuedAtKill);
  const final = await eventually(async () => {
    const t = await totals();
    expect(t.n).toBe(n);
    return t;
  }, { timeoutMs: 180_000, intervalMs: 200 }).catch(async (err) => { console.log(await diagnose(n)); throw err; });
  expect(final).toEqual({ n, sum: (n * (n - 1)) / 2, min_applied: 1, max_applied: 1 });
}, 480_000);

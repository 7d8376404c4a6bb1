// Shared parts of the fault suite: the scale switch (TORTURE_SCALE=full), producing with per-key
// order under broker failures, the history checker (lost / duplicated / reordered), stored offsets vs
// log end, a stall monitor, a private broker that may be SIGKILLed, and the figures table.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { isAlive, portOpen } from '../../infra/proc.ts';
import { libDir } from '../../infra/maven.ts';
import { ns } from '../../platform/config.ts';
import { quoteIdent } from '../../platform/db.ts';
import { DLQ_SUFFIX } from '../../platform/kafka.ts';
import { TOPIC } from '../../schemas/generated/index.ts';
import type { TestStack } from '../support/stack.ts';
import { spawnConsumers, type ConsumerProcess } from '../support/consumer-process.ts';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const FULL = process.env.TORTURE_SCALE === 'full';
/** short form value, full form value */
export const scaled = <T>(short: T, full: T): T => (FULL ? full : short);
export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
export const SESSION_TIMEOUT_MS = 6000;

// ---------------------------------------------------------------- producing

export interface Produced { eventId: string; key: string; seq: number }

/**
 * Appends `count` TortureRecorded events over `keys` keys in waves (one event per key per wave, each
 * wave acknowledged before the next), so per-key order holds in the log even when sends fail and are
 * retried with the same eventId (a broker kill). `pace` is called between waves (throttling, stop).
 */
export async function produceInWaves(stack: TestStack, opts: { count: number; keys: number; prefix?: string; pace?: (wave: number) => Promise<boolean | void>; onRetry?: () => void }): Promise<Produced[]> {
  const produced: Produced[] = [];
  const prefix = opts.prefix ?? 'k';
  for (let wave = 0; produced.length < opts.count; wave++) {
    if ((await opts.pace?.(wave)) === false) break;
    const n = Math.min(opts.keys, opts.count - produced.length);
    const batch: Produced[] = Array.from({ length: n }, (_, k) => ({ eventId: randomUUID(), key: `${prefix}${k}`, seq: wave }));
    await Promise.all(batch.map(async (p) => {
      for (let attempt = 0; ; attempt++) {
        try {
          await stack.appender.append('TortureRecorded', p.key, { key: p.key, seq: p.seq, value: 1 }, { eventId: p.eventId });
          return;
        } catch {
          opts.onRetry?.();
          await sleep(Math.min(2000, 100 * 2 ** attempt));
        }
      }
    }));
    produced.push(...batch);
  }
  return produced;
}

// ---------------------------------------------------------------- the history checker

export interface AppliedRow { id: string; key: string; seq: number; applied: number; apply_no: number; partition?: number | null; offset?: string | null }
/** One event applied after a later seq of its key: which key, which seqs, and where (partition@offset) each was read from. */
export interface Reordering { key: string; seq: number; at: string; afterSeq: number; afterAt: string }
export interface HistoryResult { history: string; produced: number; applied: number; lost: number; duplicated: number; reordered: number; unexpected: number; reorderings: Reordering[] }

const where = (r: AppliedRow) => (r.offset == null ? `apply #${r.apply_no}` : `p${r.partition}@${r.offset} (apply #${r.apply_no})`);
/** "k17: seq 41 at p3@20511 (apply #…) after seq 42 at p3@20498 (apply #…)" */
export const describeReordering = (r: Reordering) => `${r.key}: seq ${r.seq} at ${r.at} applied after seq ${r.afterSeq} at ${r.afterAt}`;

/**
 * Jepsen-queue-style check of one history: every produced event applied (lost = produced, never
 * applied), once (duplicated = applied more than once), per key in produce order (reordered = events
 * applied after a later seq of their key), nothing applied that was not produced (unexpected).
 */
export function checkHistory(history: string, produced: Produced[], applied: AppliedRow[]): HistoryResult {
  const byId = new Map(applied.map((r) => [r.id, r]));
  const want = new Set(produced.map((p) => p.eventId));
  let lost = 0;
  for (const p of produced) if (!byId.has(p.eventId)) lost++;
  const duplicated = applied.filter((r) => r.applied !== 1).length;
  const unexpected = applied.filter((r) => !want.has(r.id)).length;
  const perKey = new Map<string, AppliedRow[]>();
  for (const r of applied) (perKey.get(r.key) ?? perKey.set(r.key, []).get(r.key)!).push(r);
  let reordered = 0;
  const reorderings: Reordering[] = [];
  for (const [key, rows] of perKey) {
    rows.sort((a, b) => a.apply_no - b.apply_no);
    let max: AppliedRow | null = null;
    for (const r of rows) {
      if (max && r.seq < max.seq) {
        reordered++;
        reorderings.push({ key, seq: r.seq, at: where(r), afterSeq: max.seq, afterAt: where(max) });
      } else max = r;
    }
  }
  return { history, produced: produced.length, applied: applied.length, lost, duplicated, reordered, unexpected, reorderings };
}

export async function appliedRows(db: pg.Pool): Promise<AppliedRow[]> {
  const { rows } = await db.query('SELECT event_id AS id, key, seq::int AS seq, applied, apply_no::bigint AS apply_no, src_partition AS partition, src_offset::text AS "offset" FROM projection_torture.applied');
  return rows.map((r) => ({ ...r, apply_no: Number(r.apply_no) }));
}

export async function outcomeRows(db: pg.Pool): Promise<(AppliedRow & { reconciled: boolean })[]> {
  const { rows } = await db.query('SELECT source_event_id AS id, key, seq::int AS seq, applied, apply_no::bigint AS apply_no, src_partition AS partition, src_offset::text AS "offset", reconciled FROM projection_torture.outcomes');
  return rows.map((r) => ({ ...r, apply_no: Number(r.apply_no) }));
}

/** The external side effects as histories: every produced event's effect exactly once. */
export async function effectsCheck(db: pg.Pool, produced: Produced[]): Promise<HistoryResult & { reconciled: number }> {
  const { rows } = await db.query('SELECT effect_id, key, seq::int AS seq, count FROM torture_external.external_effects');
  const applied: AppliedRow[] = rows.map((r, i) => ({ id: String(r.effect_id).replace(/^torture-/, ''), key: r.key, seq: r.seq, applied: r.count, apply_no: i }));
  const res = checkHistory('external effects', produced, applied);
  const { rows: [u] } = await db.query('SELECT count(*)::int AS n FROM projection_torture.outcomes WHERE reconciled');
  // effects have no order to check (several partitions run concurrently): seq order per key is the outcomes' check
  return { ...res, reordered: 0, reorderings: [], reconciled: u.n };
}

// ---------------------------------------------------------------- offsets, DLQ

/** Stored offsets (Postgres) vs log end (Kafka high watermark) for every partition of the topics. */
export async function offsetsVsLogEnd(stack: TestStack, schema: string, topics: string[]): Promise<{ partitions: number; behind: { topic: string; partition: number; stored: number; end: number }[] }> {
  const admin = stack.platform.kafka.admin();
  await admin.connect();
  try {
    const behind: { topic: string; partition: number; stored: number; end: number }[] = [];
    let partitions = 0;
    const { rows } = await stack.db.query(`SELECT topic, partition, next_offset FROM ${quoteIdent(schema)}.consumer_offsets`);
    for (const base of topics) {
      const topic = ns(stack.config, base);
      for (const o of await admin.fetchTopicOffsets(topic)) {
        partitions++;
        const stored = Number(rows.find((r) => r.topic === topic && r.partition === o.partition)?.next_offset ?? 0);
        if (stored !== Number(o.high)) behind.push({ topic: base, partition: o.partition, stored, end: Number(o.high) });
      }
    }
    return { partitions, behind };
  } finally {
    await admin.disconnect();
  }
}

/** Sum of the high watermarks of a topic (records ever written to it). */
export async function logSize(stack: TestStack, base: string): Promise<number> {
  const admin = stack.platform.kafka.admin();
  await admin.connect();
  try {
    return (await admin.fetchTopicOffsets(ns(stack.config, base))).reduce((s, o) => s + Number(o.high), 0);
  } finally {
    await admin.disconnect();
  }
}

export interface DeadLetter { value: Buffer | null; headers: Record<string, string> }

/** Reads a topic's .dlq from the beginning until `want` records (or the timeout). */
export async function readDlq(stack: TestStack, base: string, want: number, timeoutMs = 60_000): Promise<DeadLetter[]> {
  const consumer = stack.platform.kafka.consumer({ groupId: `${stack.config.namespace}dlq-reader-${randomUUID()}`, maxWaitTimeInMs: 100 });
  const got: DeadLetter[] = [];
  await consumer.connect();
  await consumer.subscribe({ topics: [ns(stack.config, base + DLQ_SUFFIX)], fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ message }) => {
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(message.headers ?? {})) headers[k] = String(v);
      got.push({ value: message.value, headers });
    },
  });
  const deadline = Date.now() + timeoutMs;
  while (got.length < want && Date.now() < deadline) await sleep(200);
  await sleep(1000); // anything beyond `want` shows up as a surplus
  await consumer.disconnect();
  return got;
}

// ---------------------------------------------------------------- progress and stalls

/** Polls `progress` and records the longest time it did not move while the run was unfinished. */
export function stallMonitor(progress: () => Promise<number>, intervalMs = 250) {
  let last = -1;
  let lastMove = Date.now();
  let longest = 0;
  let longestFrom = 0;
  let running = true;
  let paused = false;
  const loop = (async () => {
    while (running) {
      const p = await progress().catch(() => last);
      const now = Date.now();
      if (p !== last || paused) { last = p; lastMove = now; } else if (now - lastMove > longest) { longest = now - lastMove; longestFrom = lastMove; }
      await sleep(intervalMs);
    }
  })();
  return {
    async stop(): Promise<number> { running = false; await loop; return longest; },
    /** While paused (e.g. the broker is down on purpose) time does not count as a stall. */
    pause() { paused = true; },
    resume() { paused = false; lastMove = Date.now(); },
    current: () => last,
    /** When the longest stall began (epoch ms). */
    longestFrom: () => longestFrom,
  };
}

/** Waits until `fn` is true (polling); throws with `what` after the timeout. */
export async function until(what: string, fn: () => Promise<boolean>, timeoutMs: number, intervalMs = 200): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await fn().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(intervalMs);
  }
}

// ---------------------------------------------------------------- consumer children

/**
 * Consumer child processes in slots; a supervisor respawns a child that died without being killed.
 * `unexpectedExits` counts children that were running (ready) and ended on their own: a fenced or
 * otherwise troubled instance must recover in-process, so the tests assert 0. A child that fails to
 * *start* (e.g. the private broker is still down) is retried and counted apart (`startFailures`).
 */
export class Fleet {
  readonly procs: (ConsumerProcess | null)[] = [];
  readonly outputs: string[] = [];
  unexpectedExits = 0;
  startFailures = 0;
  /** One line per unexpected exit: slot, exit code or signal, and the end of what the child printed. */
  readonly exitReports: string[] = [];
  private supervising: NodeJS.Timeout | null = null;
  private started = new WeakSet<ConsumerProcess>();
  constructor(private env: Record<string, string | undefined>, private module: string, private factory: string) {}

  async spawn(slot: number): Promise<ConsumerProcess> {
    for (let attempt = 0; ; attempt++) {
      const p = spawnConsumers(this.env, this.module, this.factory);
      this.procs[slot] = p;
      p.exited.then(() => this.outputs.push(p.output()));
      try {
        await p.ready;
        this.started.add(p);
        return p;
      } catch (err) {
        // e.g. the (private) broker is down while the child starts: try again, as a supervisor would
        this.startFailures++;
        if (attempt >= 10) throw err;
        await sleep(2000);
      }
    }
  }

  async kill(slot: number, signal: NodeJS.Signals = 'SIGKILL') {
    const p = this.procs[slot];
    if (!p) return;
    this.procs[slot] = null;
    p.child.kill(signal);
    await p.exited;
  }

  supervise() {
    this.supervising = setInterval(() => {
      this.procs.forEach((p, slot) => {
        // a child still starting is spawn()'s to retry
        if (p && this.started.has(p) && (p.child.exitCode !== null || p.child.signalCode !== null)) {
          this.unexpectedExits++;
          const report = `slot ${slot} pid ${p.child.pid} exited on its own (code ${p.child.exitCode}, signal ${p.child.signalCode}); last output:\n${p.output().slice(-3000)}`;
          this.exitReports.push(report);
          console.log(`[fleet] ${report}`);
          this.procs[slot] = null;
          this.spawn(slot).catch(() => {});
        }
      });
    }, 1000);
  }

  /** Everything every child printed (dead ones and live ones). */
  allOutput(): string {
    return [...this.outputs, ...this.procs.filter((p): p is ConsumerProcess => !!p).map((p) => p.output())].join('\n');
  }

  async stopAll() {
    if (this.supervising) clearInterval(this.supervising);
    await Promise.all(this.procs.map(async (p, i) => {
      if (!p) return;
      p.child.kill('SIGCONT');
      p.child.kill('SIGKILL');
      await p.exited;
      this.procs[i] = null;
    }));
  }
}

/** Lines of the children's logs where kafkajs crashed a consumer: restarted by kafkajs, or left stopped. */
export function consumerCrashes(output: string): { restarted: number; stopped: number } {
  const lines = output.split('\n').filter((l) => l.includes('kafka consumer crashed'));
  return { restarted: lines.filter((l) => l.includes('"restart":true')).length, stopped: lines.filter((l) => l.includes('"restart":false')).length };
}

export async function torturePlatformReady(stack: TestStack) {
  // the stack's own relay would compete for the relay lock with the children's: the relays under test are theirs
  await stack.platform.relay?.stop();
}

export const countOf = async (db: pg.Pool, sql: string) => Number((await db.query(sql).catch(() => ({ rows: [{ n: 0 }] }))).rows[0].n);

// ---------------------------------------------------------------- a private broker

function free(p: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(p, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/**
 * A broker of our own (own port, own state dir, the shared stack's jars linked read-only), for hard
 * kills: the shared broker other engineers use is never touched. Same approach as
 * test/broker-restart.int.test.ts.
 */
export class PrivateBroker {
  dir = '';
  port = 0;

  async start(): Promise<void> {
    if (!this.dir) {
      this.dir = mkdtempSync(join(tmpdir(), 'dbb-torture-broker-'));
      const shared = libDir(process.env.DBB_STATE_DIR ?? join(ROOT, '.dbb'), 'kafka');
      if (existsSync(join(shared, '.complete'))) {
        mkdirSync(join(this.dir, 'lib'), { recursive: true });
        symlinkSync(shared, libDir(this.dir, 'kafka'));
      }
      for (let i = 0; i < 50 && !this.port; i++) {
        const p = 20_000 + Math.floor(Math.random() * 20_000) * 2;
        if ((await free(p)) && (await free(p + 1))) this.port = p;
      }
      if (!this.port) throw new Error('no free port pair');
    }
    await new Promise<void>((resolve, reject) => {
      const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'infra', 'cli.ts'), 'up', '--state-dir', this.dir], {
        cwd: ROOT, env: { ...process.env, DBB_KAFKA_PORT: String(this.port), DBB_KAFKA_CDS: '0', DBB_KAFKA_HEAP: '512m' }, stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      child.stdout.on('data', (d) => (out += d));
      child.stderr.on('data', (d) => (out += d));
      child.on('error', reject);
      child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`private broker did not start (exit ${code}):\n${out.slice(-4000)}`))));
    });
  }

  get brokers() { return `127.0.0.1:${this.port}`; }

  private pid(): number | null {
    try { return Number(readFileSync(join(this.dir, 'run', 'kafka.pid'), 'utf8').trim()) || null; } catch { return null; }
  }

  /** SIGKILL, only of the pid our pid file names and only if its command line is ours. */
  async kill(): Promise<void> {
    const pid = this.pid();
    if (!pid || !isAlive(pid)) return;
    if (!readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(`-Ddbb.stateDir=${this.dir}`)) throw new Error(`pid ${pid} is not the private broker`);
    process.kill(pid, 'SIGKILL');
    await until('private broker exit', async () => !isAlive(pid), 30_000);
    await until('private broker port closed', async () => !(await portOpen('127.0.0.1', this.port)), 30_000);
  }

  async destroy() {
    if (!this.dir) return;
    await this.kill().catch(() => {});
    rmSync(this.dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------- figures

export interface Figure { test: string; measure: string; value: string | number; expected: string | number }

const figures: Figure[] = [];
export function figure(test: string, measure: string, value: string | number, expected: string | number = '') {
  figures.push({ test, measure, value, expected });
}

/** Prints this file's figures as a table and appends them to $TMPDIR/dbb-torture-figures.jsonl. */
export function printFigures(title: string) {
  if (!figures.length) return;
  const w = [Math.max(4, ...figures.map((f) => f.test.length)), Math.max(7, ...figures.map((f) => f.measure.length)), Math.max(5, ...figures.map((f) => String(f.value).length))];
  const line = (a: string, b: string, c: string, d: string) => `| ${a.padEnd(w[0])} | ${b.padEnd(w[1])} | ${c.padStart(w[2])} | ${d} |`;
  const out = [`\n${title} (${FULL ? 'full' : 'short'} scale)`, line('test', 'measure', 'value', 'expected'), line('-'.repeat(w[0]), '-'.repeat(w[1]), '-'.repeat(w[2]), '---'),
    ...figures.map((f) => line(f.test, f.measure, String(f.value), String(f.expected)))];
  console.log(out.join('\n'));
  try {
    const file = join(tmpdir(), 'dbb-torture-figures.jsonl');
    writeFileSync(file, figures.map((f) => JSON.stringify({ ...f, scale: FULL ? 'full' : 'short', at: new Date().toISOString() })).join('\n') + '\n', { flag: 'a' });
  } catch { /* figures are printed anyway */ }
}

export function historyFigures(test: string, r: HistoryResult) {
  figure(test, `${r.history}: produced / applied`, `${r.produced} / ${r.applied}`, 'equal');
  figure(test, `${r.history}: lost, duplicated, reordered, unexpected`, `${r.lost}, ${r.duplicated}, ${r.reordered}, ${r.unexpected}`, '0, 0, 0, 0');
  for (const x of r.reorderings.slice(0, 20)) console.log(`[history] ${r.history}: reordered ${describeReordering(x)}`);
  for (const x of r.reorderings.slice(0, 5)) figure(test, `${r.history}: reordered`, describeReordering(x), 'none');
}

export const EVENTS_TOPIC = TOPIC.TORTURE_EVENTS;
export const OUTCOMES_TOPIC = TOPIC.TORTURE_OUTCOMES;

/** The test database URL with a password added (the test server trusts local connections, so any
 *  password works), so the runs can show that DATABASE_URL passwords never reach a log line. */
export async function withSecretPassword(url: string, password: string): Promise<string> {
  const u = new URL(url);
  if (u.password) return url;
  u.password = password;
  const c = new pg.Client({ connectionString: u.toString() });
  try {
    await c.connect();
    await c.end();
    return u.toString();
  } catch {
    await c.end().catch(() => {});
    return url; // the server checks passwords: keep the configured one
  }
}

/**
 * stack.startConsumers, retried: right after the stack creates its topics the broker may still answer
 * "does not host this topic-partition" to the consumer's subscribe (a retriable error that
 * startConsumer does not retry; see the report).
 */
export async function startConsumersRetrying(stack: TestStack, make: Parameters<TestStack['startConsumers']>[0]) {
  for (const spec of make(stack.platform.domainDeps)) {
    for (let attempt = 0; ; attempt++) {
      try {
        await stack.platform.startConsumer(spec);
        break;
      } catch (err) {
        if (attempt >= 10 || (err as { retriable?: boolean }).retriable === false) throw err;
        await sleep(1000);
      }
    }
  }
}

/** The pid of the process whose Postgres connection holds the outbox relay's advisory lock (among `pids`). */
export async function relayLockHolder(db: pg.Pool, pids: number[]): Promise<number | null> {
  const { rows } = await db.query(
    `SELECT a.client_port FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
     WHERE l.locktype = 'advisory' AND l.granted AND ((l.classid::bigint << 32) | l.objid::bigint) = $1 AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())`, [0x0db0_0001]);
  const port = rows[0]?.client_port;
  if (!port) return null;
  // local port → socket inode (/proc/net/tcp*) → the process holding that socket
  const inodes = new Set<string>();
  for (const f of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try { text = readFileSync(f, 'utf8'); } catch { continue; }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length > 9 && parseInt(cols[1].split(':')[1], 16) === port) inodes.add(cols[9]);
    }
  }
  for (const pid of pids) {
    let fds: string[] = [];
    try { fds = readdirSync(`/proc/${pid}/fd`); } catch { continue; }
    for (const fd of fds) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (m && inodes.has(m[1])) return pid;
      } catch { /* fd closed meanwhile */ }
    }
  }
  return null;
}

/** The end-of-run checks of a run of the torture projection + processor: histories of inputs, outbox
 *  outcomes and external effects, and stored offsets against the log end of both consumers. */
export async function checkTortureRun(stack: TestStack, produced: Produced[]) {
  return {
    events: checkHistory('input events (projection)', produced, await appliedRows(stack.db)),
    outcomes: checkHistory('outcomes via outbox (projection)', produced, await outcomeRows(stack.db)),
    effects: await effectsCheck(stack.db, produced),
    proj: await offsetsVsLogEnd(stack, 'projection_torture', [EVENTS_TOPIC, OUTCOMES_TOPIC]),
    proc: await offsetsVsLogEnd(stack, 'processor_torture', [EVENTS_TOPIC]),
  };
}

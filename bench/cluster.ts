// The load simulation behind docs/scaling.md: a private 3-broker KRaft cluster (SCRAM, RF 3, min ISR 2,
// acks=all) and the torture projection + processor (one INSERT per event and per outcome, one external
// effect per event) as child processes. Calibration (1 instance, rate R) measures the model's
// per-event costs: consumer CPU, broker log bytes, Postgres rows. Check (2 instances, rate 2R): the
// model predicts the CPU, log bytes and rows of that run from the calibration; the ratio predicted ÷
// measured must lie within 0.7–1.3. Saturation: a backlog drained by 2 instances gives events/s per
// instance and per partition; the appender's acks=all rate to the cluster gives the produce side.
// `npm run bench -- cluster [--set cluster.rate=200] [--set cluster.seconds=30]`
import { readdirSync, readFileSync, rmSync, statSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { KafkaCluster } from '../infra/cluster.ts';
import { spawnConsumers, type ConsumerProcess } from '../test/support/consumer-process.ts';
import { freePortRange } from '../test/support/cluster.ts';
import { createExternalTable } from '../test/torture/consumers.ts';
import { machine, sleep, startBenchStack, until, type BenchResult, type BenchStack } from './support/stack.ts';

const TICKS_PER_S = 100; // Linux USER_HZ

/** utime + stime of a process, seconds. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / TICKS_PER_S;
}

/** Bytes of the namespace's log segments on every broker (replicas included). */
function logBytes(cluster: KafkaCluster, namespace: string): number {
  let total = 0;
  for (const n of cluster.nodes) {
    const dir = join(n.dir, 'kafka');
    for (const d of readdirSync(dir)) {
      if (!d.startsWith(namespace)) continue;
      for (const f of readdirSync(join(dir, d))) if (f.endsWith('.log')) total += statSync(join(dir, d, f)).size;
    }
  }
  return total;
}

async function count(stack: BenchStack, sql: string): Promise<number> {
  return Number((await stack.platform.db.query(sql).catch(() => ({ rows: [{ n: 0 }] }))).rows[0].n);
}

const rows = (stack: BenchStack) => count(stack, `SELECT (SELECT count(*) FROM projection_torture.applied) + (SELECT count(*) FROM projection_torture.outcomes) + (SELECT count(*) FROM torture_external.external_effects) AS n`);
const applied = (stack: BenchStack) => count(stack, `SELECT (SELECT count(*) FROM projection_torture.applied) + (SELECT count(*) FROM projection_torture.outcomes) AS n`);

/** Appends at `rate` events/s for `seconds` (ticks of 100 ms); returns how many. */
async function produceAt(stack: BenchStack, rate: number, seconds: number, keys = 60): Promise<number> {
  const perTick = Math.max(1, Math.round(rate / 10));
  const ticks = Math.round(seconds * 10);
  const t0 = Date.now();
  let n = 0;
  for (let t = 0; t < ticks; t++) {
    const wave = Array.from({ length: perTick }, (_, i) => stack.platform.appender.append('TortureRecorded', `k${(n + i) % keys}`, { key: `k${(n + i) % keys}`, seq: n + i, value: 1 }, { eventId: randomUUID() }));
    n += perTick;
    await Promise.all(wave);
    const wait = t0 + (t + 1) * 100 - Date.now();
    if (wait > 0) await sleep(wait);
  }
  return n;
}

interface Phase { events: number; cpuS: number; bytes: number; rows: number; seconds: number }

async function phase(stack: BenchStack, cluster: KafkaCluster, procs: ConsumerProcess[], rate: number, seconds: number): Promise<Phase> {
  const before = { cpu: procs.reduce((s, p) => s + cpuSeconds(p.child.pid!), 0), bytes: logBytes(cluster, stack.config.namespace), rows: await rows(stack), applied: await applied(stack) };
  const t0 = Date.now();
  const events = await produceAt(stack, rate, seconds);
  await until(async () => (await applied(stack)) >= before.applied + 2 * events && (await count(stack, 'SELECT count(*) AS n FROM platform.outbox')) === 0, 600_000, 200, 'the phase to be applied');
  const elapsed = (Date.now() - t0) / 1000;
  return {
    events,
    cpuS: procs.reduce((s, p) => s + cpuSeconds(p.child.pid!), 0) - before.cpu,
    bytes: logBytes(cluster, stack.config.namespace) - before.bytes,
    rows: (await rows(stack)) - before.rows,
    seconds: elapsed,
  };
}

export async function run(opts: { rate?: number; seconds?: number; backlog?: number } = {}): Promise<BenchResult> {
  const rate = opts.rate ?? 200;
  const seconds = opts.seconds ?? 30;
  const backlog = opts.backlog ?? 30_000;
  const dir = mkdtempSync(join(tmpdir(), 'dbb-bench-cluster-'));
  const cluster = new KafkaCluster(dir, { brokers: 3, scram: true, basePort: await freePortRange(6), heap: '512m' });
  const procs: ConsumerProcess[] = [];
  let stack: BenchStack | null = null;
  const notes: string[] = [];
  try {
    await cluster.start((m) => console.error(`[cluster] ${m}`));
    stack = await startBenchStack('cluster', { env: { ...cluster.clientEnv(), DBB_SESSION_TIMEOUT_MS: '6000' } });
    await stack.platform.relay?.stop(); // the children's relays publish the outcomes
    await createExternalTable(stack.databaseUrl);
    const spawn = async () => {
      const p = spawnConsumers({ ...stack!.env, LOG_LEVEL: 'warn' }, 'test/torture/consumers.ts', 'createTortureConsumers');
      await p.ready;
      procs.push(p);
      return p;
    };
    const load = () => machine().loadavg[0];

    // idle cost of one instance (polling, heartbeats), then calibration at `rate` with 1 instance
    await spawn();
    await sleep(3000);
    const idle0 = cpuSeconds(procs[0].child.pid!);
    await sleep(10_000);
    const idlePerS = (cpuSeconds(procs[0].child.pid!) - idle0) / 10;
    const loadA = load();
    const a = await phase(stack, cluster, procs, rate, seconds);
    const cpuPerEvent = (a.cpuS - idlePerS * a.seconds) / a.events;
    const bytesPerEvent = a.bytes / a.events;
    const rowsPerEvent = a.rows / a.events;

    // check: 2 instances at twice the rate; the model predicts from the calibration
    await spawn();
    await sleep(8000); // rebalance settles
    const loadB = load();
    const b = await phase(stack, cluster, procs, 2 * rate, seconds);
    const predicted = { cpuS: 2 * idlePerS * b.seconds + cpuPerEvent * b.events, bytes: bytesPerEvent * b.events, rows: rowsPerEvent * b.events };

    // saturation: a backlog produced with the consumers stopped, then drained by 2 instances
    for (const p of procs.splice(0)) { p.child.kill('SIGTERM'); await p.exited; }
    const loadC = load();
    const p0 = Date.now();
    const sent = await produceAt(stack, backlog * 10, 0.1); // one tick: every append in flight at once
    const produceS = (Date.now() - p0) / 1000;
    const before = await applied(stack);
    const d0 = Date.now();
    await Promise.all([spawn(), spawn()]);
    await until(async () => (await applied(stack!)) >= before + 2 * sent && (await count(stack!, 'SELECT count(*) AS n FROM platform.outbox')) === 0, 1_800_000, 250, 'the backlog to drain');
    const drainS = (Date.now() - d0) / 1000;
    const drainRate = sent / drainS;

    notes.push(
      `3-broker KRaft cluster on this machine (combined broker+controller JVMs, -Xmx512m each), SCRAM-SHA-512, RF 3, min ISR 2, acks=all; torture projection (handleBatch) + processor with one external effect per event, 6 partitions; ${machine().cores} cores shared with the other engineers' work`,
      `calibration: 1 instance, ${rate} events/s for ${seconds} s (load ${loadA}); check: 2 instances, ${2 * rate} events/s for ${seconds} s (load ${loadB}); saturation: ${sent} events produced with all appends in flight, then drained by 2 instances (load ${loadC})`,
      `per event: consumer CPU ${(cpuPerEvent * 1000).toFixed(2)} ms (input + outcome + effect), ${bytesPerEvent.toFixed(0)} B of broker log (RF 3, input + outcome, batch overhead included), ${rowsPerEvent.toFixed(2)} Postgres rows; idle instance ${(idlePerS * 1000).toFixed(0)} ms CPU/s`,
      `predicted ÷ measured (check phase): CPU ${(predicted.cpuS / b.cpuS).toFixed(2)}, log bytes ${(predicted.bytes / b.bytes).toFixed(2)}, rows ${(predicted.rows / b.rows).toFixed(2)}; within 30 % = 0.7–1.3`,
      `machine at the end: ${JSON.stringify(machine())}`,
    );
    return {
      name: 'cluster',
      metrics: {
        calibration_events: a.events,
        cpu_ms_per_event: cpuPerEvent * 1000,
        idle_cpu_ms_per_s: idlePerS * 1000,
        log_bytes_per_event_rf3: bytesPerEvent,
        pg_rows_per_event: rowsPerEvent,
        check_events: b.events,
        check_cpu_s: b.cpuS,
        check_cpu_s_predicted: predicted.cpuS,
        check_log_bytes: b.bytes,
        check_log_bytes_predicted: predicted.bytes,
        check_rows: b.rows,
        check_rows_predicted: predicted.rows,
        produce_acks_all_events_per_s: sent / produceS,
        drain_2_instances_events_per_s: drainRate,
        drain_per_instance_events_per_s: drainRate / 2,
        drain_per_partition_events_per_s: drainRate / 6,
        load_calibration: loadA,
        load_check: loadB,
        load_saturation: loadC,
      },
      ratios: {
        cpu_predicted_vs_measured: predicted.cpuS / b.cpuS,
        log_bytes_predicted_vs_measured: predicted.bytes / b.bytes,
        rows_predicted_vs_measured: predicted.rows / b.rows,
      },
      notes,
    };
  } finally {
    for (const p of procs) { p.child.kill('SIGKILL'); await p.exited; }
    await stack?.stop();
    await cluster.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

// Benchmark of the platform itself (the foundation issue), each beside a same-run baseline:
//  (a) 1 KB events through the platform's appender (BatchingProducer, acks=all, idempotent) vs Kafka's
//      own ProducerPerformance (same size, acks=all) and a bare kafkajs sendBatch of pre-encoded records;
//  (c) replayProjection of the sample projection over everything (a) produced vs a bare kafkajs
//      consumer reading the same topic (with and without Avro decoding);
//  (b) end to end append → projection row visible (commit-time NOTIFY from a trigger on the sample
//      table), p50/p99 at fixed rates, beside the same events seen by a bare kafkajs consumer;
//  (d) every domain's projection (staging, tape, gw, ingest, ivoa, then history over all of their
//      topics) rebuilt by replayProjection from a realistic log of `events` events of the domain, beside
//      a bare kafkajs consumer of the same topics.
// Run: npx tsx bench/platform.ts [--events 100000] [--rates 1000,300,100] [--seconds 10] [--parts produce,replay,latency,domains] [--quick]
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { javaBin, kafkaClasspath } from '../infra/stack.ts';
import { ns } from '../platform/config.ts';
import { ensureTopics } from '../platform/kafka.ts';
import { replayProjection } from '../platform/replay.ts';
import { InvalidEventError } from '../platform/errors.ts';
import { is, type ConsumerSpec, type DecodedEvent } from '../platform/types.ts';
import { TOPIC } from '../schemas/generated/index.ts';
import { createSampleProjection } from '../test/support/sample/index.ts';
import { machine, numArg, percentile, sleep, startBenchStack, until, type BenchResult, type BenchStack } from './support/stack.ts';
import { rawConsume, steadyPerS, type ReadPhases } from './support/raw-consume.ts';
import { DOMAIN_LOGS } from './support/domain-logs.ts';

export type { BenchResult };

const RECORD_SIZE = 1024;

export interface PlatformBenchOptions {
  /** events per produce run (platform and ProducerPerformance each) */
  events?: number;
  /** fixed rates for the latency part, events/s */
  rates?: number[];
  /** seconds per rate */
  seconds?: number;
  /** which parts run (default all; replay needs produce) */
  parts?: Part[];
}

type Part = 'produce' | 'replay' | 'latency' | 'domains';
const PARTS: Part[] = ['produce', 'replay', 'latency', 'domains'];

const rnd = (n: number) => Math.round(n * 10) / 10;

/** Payload length that makes the encoded SampleRecorded (wire header included) exactly RECORD_SIZE bytes. */
function payloadFor(encode: (payload: Buffer) => Buffer): number {
  let len = RECORD_SIZE - 150;
  for (let i = 0; i < 10; i++) {
    const size = encode(Buffer.alloc(len)).length;
    if (size === RECORD_SIZE) return len;
    len += RECORD_SIZE - size;
  }
  return len;
}

/** The sample projection plus a handleBatch written here (one INSERT per sub-batch, same rows and `applied`
 *  counts as handle()): how much of the runtime's cost is the per-event round trip of the sample handler. */
function sampleProjectionWithBatch(): ConsumerSpec {
  const spec = createSampleProjection();
  return {
    ...spec,
    async handleBatch(events, { tx }) {
      const invalid = events.filter((e) => is(e, 'SampleRecorded') && e.value.value < 0)
        .map((event) => ({ event, error: new InvalidEventError(`sample ${(event.value as { sampleId: string }).sampleId}: value must be >= 0`) }));
      const ok = events.filter((e): e is DecodedEvent<'SampleRecorded'> => is(e, 'SampleRecorded') && e.value.value >= 0);
      if (ok.length) {
        await tx.query(
          `INSERT INTO samples (sample_id, value, applied)
           SELECT id, sum(v), count(*) FROM unnest($1::text[], $2::bigint[]) AS t(id, v) GROUP BY id
           ON CONFLICT (sample_id) DO UPDATE SET value = samples.value + EXCLUDED.value, applied = samples.applied + EXCLUDED.applied`,
          [ok.map((e) => e.value.sampleId), ok.map((e) => e.value.value)]);
      }
      return { invalid };
    },
  };
}

/** Kafka's ProducerPerformance; returns its final records/sec. */
function producerPerformance(stateDir: string, brokers: string[], topic: string, n: number): Promise<{ perS: number; line: string }> {
  const args = ['-Xmx512m', '-cp', kafkaClasspath(stateDir), 'org.apache.kafka.tools.ProducerPerformance',
    '--topic', topic, '--num-records', String(n), '--record-size', String(RECORD_SIZE), '--throughput', '-1',
    '--producer-props', `bootstrap.servers=${brokers.join(',')}`, 'acks=all'];
  return new Promise((resolve, reject) => {
    const child = spawn(javaBin(), args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('close', (code) => {
      const lines = out.split('\n').filter((l) => /records sent, [\d.]+ records\/sec/.test(l));
      const last = lines[lines.length - 1];
      const m = last?.match(/records sent, ([\d.]+) records\/sec/);
      if (code !== 0 || !m) return reject(new Error(`ProducerPerformance failed (exit ${code}):\n${out.slice(-3000)}`));
      resolve({ perS: Number(m[1]), line: last.trim() });
    });
  });
}

/** (d): per domain, appends about `n` events of its life cycles, rebuilds its projection (replayProjection,
 *  start to swap) and reads the same topics with a bare consumer; history last, over all of them. */
async function replayDomains(stack: BenchStack, n: number, metrics: Record<string, number>, notes: string[], log: (m: string) => void): Promise<Record<string, number>> {
  const { platform, config } = stack;
  const ratios: Record<string, number> = {};
  let produced = 0;
  for (const d of DOMAIN_LOGS) {
    const spec = d.spec(platform);
    const made = d.produce ? await d.produce(platform, n) : { events: produced, check: 'SELECT count(*)::int AS n FROM history_events', expect: produced };
    produced += d.produce ? made.events : 0;
    // phases of the replay, as for the bare consumer: start → first batch applied (migrations, group join,
    // first fetch, first transaction), then first → last applied
    const rp: ReadPhases = { firstMs: NaN, lastMs: NaN, firstBatch: 0 };
    let seen = 0;
    const t0 = performance.now();
    const replayed = await replayProjection(platform, spec, { onProgress: (done) => {
      if (done <= seen) return;
      const now = performance.now() - t0;
      if (!seen) { rp.firstMs = now; rp.firstBatch = done; }
      rp.lastMs = now;
      seen = done;
    } });
    if (replayed.events !== made.events) throw new Error(`${d.domain}: replayed ${replayed.events} of ${made.events} events`);
    const { rows: [chk] } = await platform.db.query(made.check.replace(/FROM (\w+)/, `FROM ${replayed.schema}.$1`));
    if (chk.n !== made.expect) throw new Error(`${d.domain}: the rebuilt projection shows ${chk.n} rows where ${made.expect} were expected (${made.check})`);
    const raw = await rawConsume(platform.kafka, d.topics.map((t) => ns(config, t)), ns(config, `bench-raw-${d.domain}-${stack.id}`));
    const perS = replayed.events / (replayed.ms / 1000);
    metrics[`replay_${d.domain}_events`] = made.events;
    metrics[`replay_${d.domain}_events_per_s`] = rnd(perS);
    metrics[`raw_consume_${d.domain}_events_per_s`] = rnd(raw.perS);
    const steady = steadyPerS(replayed.events, rp);
    const rawSteady = raw.n / ((raw.phases.lastMs - (raw.phases.joinMs ?? 0)) / 1000);
    metrics[`replay_${d.domain}_start_to_first_applied_ms`] = Math.round(rp.firstMs);
    metrics[`replay_${d.domain}_steady_events_per_s`] = rnd(steady);
    metrics[`replay_${d.domain}_last_applied_to_swapped_ms`] = Math.round(replayed.ms - rp.lastMs);
    metrics[`raw_consume_${d.domain}_join_ms`] = Math.round(raw.phases.joinMs ?? NaN);
    metrics[`raw_consume_${d.domain}_start_to_first_ms`] = Math.round(raw.phases.firstMs);
    metrics[`raw_consume_${d.domain}_steady_events_per_s`] = rnd(rawSteady);
    ratios[`replay_${d.domain}_vs_raw_consume`] = perS / raw.perS;
    ratios[`replay_${d.domain}_steady_vs_raw_consume_steady`] = steady / rawSteady;
    ratios[`replay_${d.domain}_start_vs_raw_consume_start`] = rp.firstMs / raw.phases.firstMs;
    ratios[`replay_${d.domain}_vs_goal_50k`] = perS / 50_000;
    ratios[`replay_${d.domain}_steady_vs_goal_50k`] = steady / 50_000;
    log(`replay ${d.domain}: ${made.events} events, ${rnd(perS)}/s end to end (start → first applied ${Math.round(rp.firstMs)} ms, then ${rnd(steady)}/s, last applied → swapped ${Math.round(replayed.ms - rp.lastMs)} ms); `
      + `bare consumer ${rnd(raw.perS)}/s (join ${Math.round(raw.phases.joinMs ?? NaN)} ms, first record ${Math.round(raw.phases.firstMs)} ms, last ${Math.round(raw.phases.lastMs)} ms: ${rnd(rawSteady)}/s once joined); `
      + `${(perS / raw.perS).toFixed(2)}× end to end, ${(steady / rawSteady).toFixed(2)}× steady; load ${machine().loadavg[0]}`);
  }
  notes.push(`domains: per domain ≈ ${n} events as its processors append them (staging: requested, started, staged or failed, waves of 100 requests; tape: 7 events per job of 10 files; gw: chunks round-robin over 20 datastores, frozen and flushed every 100; ingest: discovered, moved, queued, attempted; ivoa: DidRegistered + ReplicaAdded per DID), then history over all of those topics; replay = replayProjection (start to swap, group join and migrations included; DBB_BATCH_MAX ${config.batchMaxRecords}), rows checked after each; raw = a bare kafkajs consumer (fresh group, counting) of the same topics right after. Each read also in two phases: fixed = start → first batch applied (replay: migrations of the shadow schema, group join, first fetch, first transaction; raw: join, first fetch), steady = replay: the events after the first batch over first → last applied; raw: every record over join → last record, since its first fetch carries most of the records (*_steady_*)`);
  return ratios;
}

export async function run(opts: PlatformBenchOptions = {}): Promise<BenchResult> {
  const N = opts.events ?? 100_000;
  const rates = opts.rates ?? [1000, 300, 100];
  const seconds = opts.seconds ?? 10;
  const parts = new Set(opts.parts ?? PARTS);
  if (parts.has('replay')) parts.add('produce');
  const stateDir = process.env.DBB_STATE_DIR ?? join(process.cwd(), '.dbb');
  const stack = await startBenchStack('platform', { relay: false, extraTopics: ['bench.perf', 'bench.raw'] });
  const { platform, config } = stack;
  const log = (m: string) => console.error(`[bench platform] ${m}`);
  const metrics: Record<string, number> = {};
  const notes: string[] = [];
  const samples = ns(config, TOPIC.EXAMPLE_SAMPLES);
  let listener: pg.Client | null = null;
  try {
    const plen = payloadFor((payload) => platform.serde.encode('SampleRecorded', { meta: { eventId: '00000000-0000-4000-8000-000000000000', occurredAt: Date.now(), correlationId: '00000000-0000-4000-8000-000000000000', causationId: null, actor: null, source: 'bench-platform' }, sampleId: 's0000000', value: 1, payload }));
    const payload = Buffer.alloc(plen, 0x61);

    if (parts.has('produce')) {
      // ---- (a) producing
      const viaPlatform = async (round: number) => {
        const t0 = performance.now();
        const window = 10_000; // appends in flight (a busy gateway); the producer batches them
        for (let base = 0; base < N; base += window) {
          await Promise.all(Array.from({ length: Math.min(window, N - base) }, (_, j) => {
            const i = base + j;
            return platform.appender.append('SampleRecorded', `key-${i % 97}`, { sampleId: `r${round}-${String(i).padStart(7, '0')}`, value: 1, payload });
          }));
        }
        return N / ((performance.now() - t0) / 1000);
      };
      const viaKafkajs = async () => {
        const producer = platform.kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false });
        await producer.connect();
        const value = Buffer.alloc(RECORD_SIZE, 0x62);
        const t0 = performance.now();
        const batch = 5_000;
        for (let base = 0; base < N; base += batch) {
          await producer.sendBatch({ acks: -1, topicMessages: [{ topic: ns(config, 'bench.raw'), messages: Array.from({ length: Math.min(batch, N - base) }, (_, j) => ({ key: `key-${(base + j) % 97}`, value })) }] });
        }
        const perS = N / ((performance.now() - t0) / 1000);
        await producer.disconnect();
        return perS;
      };
      log(`producing ${N} × ${RECORD_SIZE} B: platform, ProducerPerformance, kafkajs, twice each (best of 2 is reported)`);
      const plat: number[] = []; const perf: number[] = []; const raw: number[] = [];
      let perfLine = '';
      for (let round = 0; round < 2; round++) {
        plat.push(await viaPlatform(round));
        const p = await producerPerformance(stateDir, stack.info.brokers, ns(config, 'bench.perf'), N);
        perf.push(p.perS); perfLine = p.line;
        raw.push(await viaKafkajs());
        log(`round ${round + 1}: platform ${rnd(plat[round])}/s, ProducerPerformance ${rnd(perf[round])}/s, kafkajs sendBatch ${rnd(raw[round])}/s`);
      }
      metrics.produce_platform_events_per_s = rnd(Math.max(...plat));
      metrics.produce_ProducerPerformance_events_per_s = rnd(Math.max(...perf));
      metrics.produce_kafkajs_sendBatch_events_per_s = rnd(Math.max(...raw));
      metrics.produce_platform_MB_per_s = rnd((metrics.produce_platform_events_per_s * RECORD_SIZE) / 1e6);
      notes.push(`produce: ${N} records of ${RECORD_SIZE} B (encoded SampleRecorded incl. the 5-byte wire header; ProducerPerformance --record-size ${RECORD_SIZE}), acks=all, 3 partitions, best of 2 rounds each; platform = appender.append (meta, Avro validate+encode, BatchingProducer linger 2 ms / 1000 records, one sendBatch in flight) with 10,000 appends in flight; kafkajs = idempotent producer, pre-encoded sendBatch of 5,000 awaited one after another`);
      notes.push(`ProducerPerformance (Java client defaults: idempotent, linger.ms 5, batch.size 16 KiB), last run: ${perfLine}`);
      notes.push(`platform rounds: ${plat.map(rnd).join(', ')}; ProducerPerformance rounds: ${perf.map(rnd).join(', ')}; kafkajs rounds: ${raw.map(rnd).join(', ')} events/s`);
    }

    if (parts.has('replay')) {
      // ---- (c) replay of everything (a) appended, beside raw consumers of the same topic
      const replayed = await replayProjection(platform, createSampleProjection());
      metrics.replay_events = replayed.events;
      metrics.replay_events_per_s = rnd(replayed.events / (replayed.ms / 1000));
      const rawC = await rawConsume(platform.kafka, [samples], ns(config, `bench-raw-${stack.id}`));
      const decC = await rawConsume(platform.kafka, [samples], ns(config, `bench-dec-${stack.id}`), async (v) => { await platform.serde.decode(v); });
      metrics.raw_consume_events_per_s = rnd(rawC.perS);
      metrics.raw_consume_decode_events_per_s = rnd(decC.perS);
      const { rows: [chk] } = await platform.db.query('SELECT count(*)::int AS n, max(applied)::int AS max_applied FROM projection_sample.samples');
      if (chk.n !== replayed.events || chk.max_applied !== 1) throw new Error(`replay produced ${chk.n} rows (max applied ${chk.max_applied}) for ${replayed.events} events`);
      const replayedBatch = await replayProjection(platform, sampleProjectionWithBatch());
      metrics.replay_handleBatch_events_per_s = rnd(replayedBatch.events / (replayedBatch.ms / 1000));
      const { rows: [chk2] } = await platform.db.query('SELECT count(*)::int AS n, max(applied)::int AS max_applied, sum(value)::bigint AS sum FROM projection_sample.samples');
      if (chk2.n !== replayed.events || chk2.max_applied !== 1 || Number(chk2.sum) !== replayed.events) throw new Error(`handleBatch replay gave ${JSON.stringify(chk2)} for ${replayed.events} events`);
      log(`replay with handleBatch: ${metrics.replay_handleBatch_events_per_s}/s`);
      log(`replay ${replayed.events} events: ${metrics.replay_events_per_s}/s; raw consumer ${metrics.raw_consume_events_per_s}/s, with Avro decode ${metrics.raw_consume_decode_events_per_s}/s`);
      notes.push(`replay: replayProjection(sample projection) over the ${replayed.events} events appended in (a) (start of replay to swap, group join included; DBB_BATCH_MAX ${config.batchMaxRecords}, one INSERT per event: the sample projection has no handleBatch; replay_handleBatch: the same projection with a handleBatch written in this bench, one INSERT … SELECT unnest per sub-batch, same rows); raw consumer: fresh kafkajs group, eachBatch counting (and, second figure, serde.decode of each record), subscribe to last record`);

    }

    if (parts.has('latency')) {
      // ---- (b) end-to-end latency at fixed rates
      const sentAt = new Map<string, number>();
      // the same sample projection, its handler wrapped to note when the runtime hands it an event (fetched,
      // decoded, offsets read, transaction begun): splits the row latency into before/after the handler
      const handlerMs = new Map<string, number>();
      const spec = createSampleProjection();
      const handle = spec.handle.bind(spec);
      spec.handle = async (event, ctx) => {
        const id = (event.value as { sampleId?: string }).sampleId ?? '';
        const t = sentAt.get(id);
        if (t !== undefined && !handlerMs.has(id)) handlerMs.set(id, performance.now() - t);
        return handle(event, ctx);
      };
      const live = await platform.startConsumer(spec);
      await platform.db.query(`CREATE FUNCTION public.bench_notify() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_notify('bench_sample', NEW.sample_id); RETURN NEW; END $$`);
      await platform.db.query('CREATE TRIGGER bench_notify AFTER INSERT ON projection_sample.samples FOR EACH ROW EXECUTE FUNCTION public.bench_notify()');
      const rowMs = new Map<string, number>();
      const kafkaMs = new Map<string, number>();
      listener = new pg.Client({ connectionString: stack.databaseUrl });
      await listener.connect();
      listener.on('notification', (n) => { const t = sentAt.get(n.payload!); if (t !== undefined) rowMs.set(n.payload!, performance.now() - t); });
      await listener.query('LISTEN bench_sample');
      const watcher = platform.kafka.consumer({ groupId: ns(config, `bench-watch-${stack.id}`), maxWaitTimeInMs: 100 });
      await watcher.connect();
      await watcher.subscribe({ topics: [samples], fromBeginning: false });
      let joined = false;
      watcher.on(watcher.events.GROUP_JOIN, () => { joined = true; });
      await watcher.run({
        eachMessage: async ({ message }) => {
          const now = performance.now();
          const d = await platform.serde.decode(message.value);
          const id = d.value.sampleId as string;
          const t = sentAt.get(id);
          if (t !== undefined) kafkaMs.set(id, now - t);
        },
      });
      await until(() => joined, 60_000, 20, 'watcher group join');
      await sleep(500);

      const atRate = async (label: string, rate: number, secs: number) => {
        const n = Math.max(50, Math.round(rate * secs));
        const ids = Array.from({ length: n }, (_, i) => `${label}-${String(i).padStart(6, '0')}`);
        const t0 = performance.now();
        const pending: Promise<unknown>[] = [];
        let i = 0;
        while (i < n) {
          const due = Math.min(n, Math.floor(((performance.now() - t0) * rate) / 1000) + 1);
          for (; i < due; i++) {
            sentAt.set(ids[i], performance.now());
            pending.push(platform.appender.append('SampleRecorded', `key-${i % 97}`, { sampleId: ids[i], value: 1, payload }));
          }
          await sleep(1);
        }
        const achieved = n / ((performance.now() - t0) / 1000);
        await Promise.all(pending);
        await until(() => ids.every((id) => rowMs.has(id) && kafkaMs.has(id)), 120_000, 20, `rows of ${label}`)
          .catch((err) => { throw new Error(`${(err as Error).message}: ${ids.filter((id) => rowMs.has(id)).length}/${n} rows visible, ${ids.filter((id) => kafkaMs.has(id)).length}/${n} seen by the bare consumer`); });
        const row = ids.map((id) => rowMs.get(id)!);
        const kaf = ids.map((id) => kafkaMs.get(id)!);
        const hnd = ids.map((id) => handlerMs.get(id) ?? NaN).filter(Number.isFinite);
        return { achieved, row, kaf, hnd };
      };
      log('latency: warm-up');
      await atRate('warm', 200, 2);
      for (const [k, rate] of rates.entries()) {
        const r = await atRate(`r${k}-${rate}`, rate, seconds);
        metrics[`e2e_${rate}_per_s_row_p50_ms`] = rnd(percentile(r.row, 50));
        metrics[`e2e_${rate}_per_s_row_p99_ms`] = rnd(percentile(r.row, 99));
        metrics[`e2e_${rate}_per_s_handler_p50_ms`] = rnd(percentile(r.hnd, 50));
        metrics[`e2e_${rate}_per_s_handler_p99_ms`] = rnd(percentile(r.hnd, 99));
        metrics[`e2e_${rate}_per_s_kafka_p50_ms`] = rnd(percentile(r.kaf, 50));
        metrics[`e2e_${rate}_per_s_kafka_p99_ms`] = rnd(percentile(r.kaf, 99));
        metrics[`e2e_${rate}_per_s_achieved_rate`] = rnd(r.achieved);
        log(`rate ${rate}/s (achieved ${rnd(r.achieved)}): row visible p50 ${metrics[`e2e_${rate}_per_s_row_p50_ms`]} ms p99 ${metrics[`e2e_${rate}_per_s_row_p99_ms`]} ms; handler entered p50 ${metrics[`e2e_${rate}_per_s_handler_p50_ms`]} ms; bare consumer p50 ${metrics[`e2e_${rate}_per_s_kafka_p50_ms`]} ms p99 ${metrics[`e2e_${rate}_per_s_kafka_p99_ms`]} ms`);
      }
      // the first rate again with handleBatch (same consumer name: same schema, stored offsets and trigger)
      await live.stop();
      platform.consumers.splice(platform.consumers.indexOf(live), 1);
      await platform.startConsumer(sampleProjectionWithBatch());
      const rb = await atRate(`b-${rates[0]}`, rates[0], seconds);
      metrics[`e2e_${rates[0]}_per_s_handleBatch_row_p50_ms`] = rnd(percentile(rb.row, 50));
      metrics[`e2e_${rates[0]}_per_s_handleBatch_row_p99_ms`] = rnd(percentile(rb.row, 99));
      metrics[`e2e_${rates[0]}_per_s_handleBatch_kafka_p50_ms`] = rnd(percentile(rb.kaf, 50));
      log(`rate ${rates[0]}/s with handleBatch: row visible p50 ${metrics[`e2e_${rates[0]}_per_s_handleBatch_row_p50_ms`]} ms p99 ${metrics[`e2e_${rates[0]}_per_s_handleBatch_row_p99_ms`]} ms; bare consumer p50 ${metrics[`e2e_${rates[0]}_per_s_handleBatch_kafka_p50_ms`]} ms`);
      await watcher.disconnect();
      notes.push(`latency: ${seconds} s per rate (${rates.join(', ')} events/s) after a 2 s warm-up; from just before appender.append to the NOTIFY of an AFTER INSERT trigger on projection_sample.samples arriving at a LISTENing client (sent at commit, so the row is visible); "handler" = when the runtime called the projection's handle() for the event (fetched, decoded, stored offset read, transaction open); "kafka" = the same events seen by a bare kafkajs consumer (maxWait 100 ms like the runtime) in the same process; last, the first rate again with the handleBatch variant of the projection`);
    }

    const domainRatios: Record<string, number> = {};
    if (parts.has('domains')) {
      // ---- (d) every domain's projection rebuilt from a realistic log of its own, beside a bare consumer
      Object.assign(domainRatios, await replayDomains(stack, N, metrics, notes, log));
    }

    const r0 = rates[0];
    const ratios: Record<string, number> = {
      produce_platform_vs_ProducerPerformance: metrics.produce_platform_events_per_s / metrics.produce_ProducerPerformance_events_per_s,
      produce_platform_vs_kafkajs_sendBatch: metrics.produce_platform_events_per_s / metrics.produce_kafkajs_sendBatch_events_per_s,
      replay_vs_raw_consume: metrics.replay_events_per_s / metrics.raw_consume_events_per_s,
      replay_vs_raw_consume_decode: metrics.replay_events_per_s / metrics.raw_consume_decode_events_per_s,
      replay_handleBatch_vs_raw_consume: metrics.replay_handleBatch_events_per_s / metrics.raw_consume_events_per_s,
      [`e2e_${r0}_per_s_p50_row_vs_kafka`]: metrics[`e2e_${r0}_per_s_row_p50_ms`] / metrics[`e2e_${r0}_per_s_kafka_p50_ms`],
      [`e2e_${r0}_per_s_p99_row_vs_kafka`]: metrics[`e2e_${r0}_per_s_row_p99_ms`] / metrics[`e2e_${r0}_per_s_kafka_p99_ms`],
      [`e2e_${r0}_per_s_handleBatch_p50_row_vs_kafka`]: metrics[`e2e_${r0}_per_s_handleBatch_row_p50_ms`] / metrics[`e2e_${r0}_per_s_handleBatch_kafka_p50_ms`],
      ...domainRatios,
    };
    return {
      name: 'platform',
      metrics,
      // a part left out (--parts) leaves its ratios out
      ratios: Object.fromEntries(Object.entries(ratios).filter(([, v]) => Number.isFinite(v))),
      notes: [...notes, `machine at the end: ${JSON.stringify(machine())}`, 'goals: produce_platform_vs_ProducerPerformance ≥ 0.5; each replay_<domain>_vs_raw_consume ≥ 0.5 or replay_<domain>_vs_goal_50k ≥ 1'],
    };
  } finally {
    await listener?.end().catch(() => {});
    await stack.stop();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const quick = process.argv.includes('--quick');
  const ratesArg = process.argv.indexOf('--rates');
  const partsArg = process.argv.indexOf('--parts');
  run({
    events: numArg('events') ?? (quick ? 20_000 : undefined),
    seconds: numArg('seconds') ?? (quick ? 3 : undefined),
    rates: ratesArg > 0 ? process.argv[ratesArg + 1].split(',').map(Number) : undefined,
    parts: partsArg > 0 ? process.argv[partsArg + 1].split(',') as Part[] : undefined,
  })
    .then((r) => { console.log(JSON.stringify(r, null, 2)); process.exit(0); })
    .catch((err) => { console.error(err); process.exit(1); });
}

// Benchmark: one 10,000-file tape job with notifications arriving as fast as the library simulator can
// publish them (POST /staging → batchstage → sim → adapter → processor → callback). Reports notifications
// processed per second and the time from the last notification to the callback, beside two same-run
// baselines: a bare kafkajs consumer reading the raw notifications, and one UPDATE per file in Postgres.
// Run: npx tsx bench/tape.ts [--files 10000] [--json]
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { ensureStack } from '../infra/stack.ts';
import { ns } from '../platform/config.ts';
import { createLogger } from '../platform/log.ts';
import { startReplyListener } from '../platform/request-reply.ts';
import { createAuth, hashToken } from '../gateway/plugins/auth.ts';
import { buildApp } from '../gateway/app.ts';
import { createTapeProcessor } from '../processors/tape/index.ts';
import { createTapeProjection } from '../projections/tape/index.ts';
import { startTapeNotifications } from '../producers/tape-notifications/index.ts';
import { startTapeLibrarySim, TapeLibrary } from '../sim/tape-library/index.ts';
import { metrics as platformMetrics } from '../platform/metrics.ts';
import { startBenchStack, type BenchResult } from './support/stack.ts';


const until = async (cond: () => Promise<boolean>, timeoutMs: number, intervalMs = 20) => {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('benchmark timed out');
    await new Promise((r) => setTimeout(r, intervalMs));
  }
};

export async function run(opts: { files?: number } = {}): Promise<BenchResult> {
  const n = opts.files ?? 10_000;
  const info = await ensureStack({ stateDir: process.env.DBB_STATE_DIR ?? join(process.cwd(), '.dbb'), databaseUrl: process.env.DATABASE_URL });
  const id = randomBytes(3).toString('hex');

  let callbackAt = 0;
  let callbackBody: any = null;
  const receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => { callbackAt = Date.now(); callbackBody = JSON.parse(Buffer.concat(chunks).toString()); res.end('{}'); });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  const notifyUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/cb`;

  const library = new TapeLibrary({ kafkaBrokers: info.brokers, stageDelayMs: 0, maxBatch: 1000 });
  const node = await startTapeLibrarySim({ kafkaBrokers: info.brokers, library });
  const token = `bench-${id}`;
  const bench = await startBenchStack('tape', {
    env: { DBB_TOKENS: `bench:producer:${hashToken(token)}`, TAPE_SCOUT_URLS: node.url, TAPE_TICK_MS: '1000', TAPE_CALLBACK_ALLOW: '127.0.0.0/8' },
  });
  const { env, config, platform } = bench;
  const log = createLogger({ level: 'warn', name: 'bench-tape' });
  const replies = await startReplyListener({ config, kafka: platform.kafka, serde: platform.serde, appender: platform.appender, log });
  const app = await buildApp({ config, env, db: platform.db, appender: platform.appender, replies, auth: createAuth(config), log });
  const adapter = await startTapeNotifications({ config, env, kafka: platform.kafka, producer: platform.producer, appender: platform.appender, log });
  try {
    await platform.startConsumer(createTapeProcessor(platform.domainDeps));
    await platform.startConsumer(createTapeProjection(platform.domainDeps));
    const files = Array.from({ length: n }, (_, i) => `/mwa/bench/${1_000_000_000 + i}_ch${String(i % 24).padStart(3, '0')}.fits`);

    const posted = Date.now();
    const res = await app.inject({ method: 'POST', url: '/staging', headers: { authorization: `Bearer ${token}` }, payload: { job_id: 1, files, notify_url: notifyUrl } });
    if (res.statusCode !== 202) throw new Error(`POST /staging answered ${res.statusCode}: ${res.body}`);

    // processor progress, polled: first and last counted notification
    let firstCounted = 0;
    let lastCounted = 0;
    await until(async () => {
      const { rows } = await platform.db.query('SELECT ready + error AS done FROM processor_tape.jobs WHERE job_id = 1');
      const done = rows[0]?.done ?? 0;
      if (done > 0 && !firstCounted) firstCounted = Date.now();
      if (done >= n) lastCounted = Date.now();
      return done >= n;
    }, 300_000, 5);
    await until(async () => callbackAt > 0, 60_000, 5);
    await library.drained();
    const lastPublished = library.lastFlush.at;
    if (callbackBody?.ready_files !== n) throw new Error(`callback says ${JSON.stringify(callbackBody)}`);

    // baseline 1: a bare kafkajs consumer reading the same raw notifications (JSON.parse each)
    const rawTopic = ns(config, 'tape.notifications');
    let seen = 0;
    const started = { at: 0 };
    const consumer = platform.kafka.consumer({ groupId: `${config.namespace}bench-raw`, maxWaitTimeInMs: 50, maxBytesPerPartition: 8 << 20 });
    await consumer.connect();
    await consumer.subscribe({ topics: [rawTopic], fromBeginning: true });
    let rawDone = 0;
    await consumer.run({ eachBatch: async ({ batch }) => {
      if (!started.at) started.at = Date.now();
      for (const m of batch.messages) { JSON.parse(m.value!.toString()); seen++; }
      if (seen >= n && !rawDone) rawDone = Date.now();
    } });
    await until(async () => rawDone > 0, 120_000, 5);
    await consumer.disconnect();

    // baseline 2: one UPDATE per file in one transaction (the per-event floor of a row-per-file design)
    const c = await platform.db.connect();
    let pgMs = 0;
    try {
      await c.query('CREATE TEMP TABLE bench_files (job_id bigint, file text, status text, PRIMARY KEY (job_id, file))');
      await c.query(`INSERT INTO bench_files SELECT 1, unnest($1::text[]), 'PENDING'`, [files]);
      await c.query('BEGIN');
      const t = Date.now();
      for (const f of files) await c.query(`UPDATE bench_files SET status = 'READY' WHERE job_id = 1 AND file = $1 AND status = 'PENDING'`, [f]);
      pgMs = Date.now() - t;
      await c.query('COMMIT');
    } finally { c.release(); }

    const handler = async (consumer: string) => {
      const v = (await platformMetrics.handlerSeconds.get()).values.filter((x) => x.labels.consumer === consumer);
      return { ms: (v.find((x) => x.metricName?.endsWith('_sum'))?.value ?? 0) * 1000, n: v.find((x) => x.metricName?.endsWith('_count'))?.value ?? 0 };
    };
    const proc = await handler('processor.tape');
    const proj = await handler('projection.tape');
    const processorS = Math.max(lastCounted - firstCounted, 1) / 1000;
    const metrics = {
      files: n,
      processor_notifications_per_s: n / processorS,
      sim_publish_to_processed_notifications_per_s: n / (Math.max(lastCounted - posted, 1) / 1000),
      last_notification_to_callback_ms: callbackAt - lastPublished,
      last_counted_to_callback_ms: callbackAt - lastCounted,
      post_to_callback_ms: callbackAt - posted,
      post_to_first_published_ms: library.lastFlush.first - posted,
      last_published_to_adapter_done_ms: adapter.stats.lastAppendedAt - lastPublished,
      adapter_done_to_last_counted_ms: lastCounted - adapter.stats.lastAppendedAt,
      first_to_last_published_ms: lastPublished - library.lastFlush.first,
      processor_handler_ms_total: proc.ms,
      processor_events_handled: proc.n,
      projection_handler_ms_total: proj.ms,
      adapter_events_appended: adapter.stats.appended,
      baseline_raw_consume_per_s: n / (Math.max(rawDone - started.at, 1) / 1000),
      baseline_pg_update_per_s: n / (Math.max(pgMs, 1) / 1000),
    };
    return {
      name: 'tape',
      metrics,
      ratios: {
        processor_vs_raw_consume: metrics.processor_notifications_per_s / metrics.baseline_raw_consume_per_s,
        processor_vs_pg_update: metrics.processor_notifications_per_s / metrics.baseline_pg_update_per_s,
        processor_vs_goal_5000: metrics.processor_notifications_per_s / 5000,
        callback_latency_vs_goal_1000ms: metrics.last_notification_to_callback_ms / 1000,
      },
      notes: [
        `one job of ${n} files, simulator stage delay 0 (publishes as fast as kafkajs acks), 1 Scout node; processor and projection in this process`,
        'processor_notifications_per_s: first to last notification counted in processor_tape (polled every 5 ms); includes the adapter (raw JSON → Avro events)',
        'last_notification_to_callback_ms: the simulator\'s last Kafka ack to the callback POST arriving at the receiver',
        'baselines: a bare kafkajs consumer JSON-parsing the same raw messages; one UPDATE statement per file in one Postgres transaction',
      ],
    };
  } finally {
    await adapter.stop().catch(() => {});
    await app.close().catch(() => {});
    await replies.stop().catch(() => {});
    await bench.stop();
    await node.stop().catch(() => {});
    await library.close();
    receiver.close();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const i = process.argv.indexOf('--files');
  run({ files: i > 0 ? Number(process.argv[i + 1]) : undefined })
    .then((r) => { console.log(JSON.stringify(r, null, process.argv.includes('--json') ? 0 : 2)); process.exit(0); })
    .catch((err) => { console.error(err); process.exit(1); });
}

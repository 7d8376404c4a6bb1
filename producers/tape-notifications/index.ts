// Edge producer of the tape domain: turns the library's plain-JSON per-file notifications into one
// TapeFilesStaged per job and consumed batch (keyed by job id; a file in several jobs notifies each), sends
// garbage and unknown files to `<notifications topic>.dlq`, and runs the scheduler that appends the
// TapeJobTimeoutChecked tick (job timeouts, adapter heartbeat, tape cache state).
import type { Kafka, KafkaMessage, Consumer } from 'kafkajs';
import type { Logger } from 'pino';
import pRetry from 'p-retry';
import { ns, type Config, type Env } from '../../platform/config.ts';
import { DLQ_SUFFIX, ensureTopics } from '../../platform/kafka.ts';
import { derivedId } from '../../platform/ids.ts';
import { createPool, type Db } from '../../platform/db.ts';
import type { BatchingProducer, RawRecord } from '../../platform/producer.ts';
import type { Appender } from '../../platform/types.ts';
import { loadTapeConfig } from '../../domains/tape/config.ts';
import type { ScoutClient } from '../../domains/tape/scout.ts';
import { jobKey } from '../../domains/tape/ids.ts';
import { createScout } from '../../domains/tape/scout.ts';

export const SOURCE = 'producer.tape-notifications';
/** partitions handled at once, each with its own lookup connection (none waits for another's query) */
const PARTITIONS_AT_ONCE = 3;

export interface TapeNotificationsDeps {
  config: Config;
  env: Env;
  kafka: Kafka;
  /** reads processor_tape.job_files to map a file to its jobs; default: a small pool of its own, so the
   *  lookup never waits behind the consumers' batch transactions for a connection */
  db?: Db;
  producer: BatchingProducer;
  appender: Appender;
  log: Logger;
}

export interface TapeNotifications {
  stats: { consumed: number; appended: number; deadLettered: number; ignored: number; ticks: number; lastAppendedAt: number };
  /** Appends one tick now (tests; the scheduler calls it every TAPE_TICK_MS). */
  tick(): Promise<void>;
  stop(): Promise<void>;
}

/** One library notification: `{"filename": path}`, with `"error": true` (and a message) when staging failed. */
export interface Notification { filename: string; error: boolean; message: string }

export function parseNotification(value: Buffer | null): Notification {
  if (!value) throw new Error('empty message');
  const m = JSON.parse(value.toString('utf8'));
  const filename = m?.filename ?? m?.file ?? m?.path;
  if (typeof filename !== 'string' || !filename) throw new Error('no filename in notification');
  const error = m.error === true || m.error === 1 || m.error === 'true';
  return { filename, error, message: typeof m.message === 'string' ? m.message : error ? 'staging failed' : '' };
}

/** The library publishes to this topic, so it must exist before batchstage names it; a fresh topic's
 *  leader election can fail the first metadata round, hence the retries. */
async function ensureNotificationTopics(kafka: Kafka, config: Config, base: string, log: Logger) {
  for (let attempt = 1; ; attempt++) {
    const admin = kafka.admin();
    try {
      await admin.connect();
      await ensureTopics(admin, config, [{ topic: base }]);
      return;
    } catch (err) {
      if (attempt >= 5) throw err;
      log.warn({ err, attempt }, 'creating the notifications topic failed; retrying');
      await new Promise((r) => setTimeout(r, 500 * attempt));
    } finally {
      await admin.disconnect().catch(() => {});
    }
  }
}

export async function startTapeNotifications(deps: TapeNotificationsDeps, opts: { scout?: ScoutClient; ticker?: boolean } = {}): Promise<TapeNotifications> {
  const cfg = loadTapeConfig(deps.env);
  const log = deps.log.child({ component: SOURCE });
  const topic = ns(deps.config, cfg.notificationsTopic);
  const scout = opts.scout ?? createScout({ ...cfg, scoutAttempts: Math.min(cfg.scoutAttempts, cfg.scoutUrls.length), scoutTimeoutMs: Math.min(cfg.scoutTimeoutMs, 2_000) });
  const stats = { consumed: 0, appended: 0, deadLettered: 0, ignored: 0, ticks: 0, lastAppendedAt: 0 };
  const db = deps.db ?? createPool(deps.config.databaseUrl, PARTITIONS_AT_ONCE);

  await ensureNotificationTopics(deps.kafka, deps.config, cfg.notificationsTopic, log);

  const dlq = (m: KafkaMessage, partition: number, error: string): RawRecord => ({
    topic: topic + DLQ_SUFFIX, key: m.key?.toString() ?? null, value: m.value,
    headers: { ...(m.headers ?? {}), 'dbb-error': error.slice(0, 2000), 'dbb-original-topic': topic, 'dbb-original-partition': String(partition), 'dbb-original-offset': m.offset, 'dbb-consumer': SOURCE },
  });

  async function handleChunk(partition: number, messages: KafkaMessage[]) {
    const parsed = messages.map((m) => { try { return parseNotification(m.value); } catch (err) { return err as Error; } });
    const names = [...new Set(parsed.flatMap((p) => (p instanceof Error ? [] : [p.filename])))];
    const { rows } = names.length
      ? await db.query(
        `SELECT f.file, f.job_id, j.status FROM processor_tape.job_files f JOIN processor_tape.jobs j USING (job_id)
         WHERE f.file = ANY($1::text[]) ORDER BY f.job_id`, [names])
      : { rows: [] as any[] };
    const jobsOf = new Map<string, { jobId: number; status: string }[]>();
    for (const r of rows) jobsOf.set(r.file, [...(jobsOf.get(r.file) ?? []), { jobId: Number(r.job_id), status: r.status }]);

    const sends: Promise<unknown>[] = [];
    const byJob = new Map<number, { staged: string[]; failed: { file: string; error: string }[]; first: number; last: number }>();
    messages.forEach((m, i) => {
      const p = parsed[i];
      if (p instanceof Error) { stats.deadLettered++; sends.push(deps.producer.send(dlq(m, partition, `garbage notification: ${p.message}`))); return; }
      const jobs = jobsOf.get(p.filename);
      if (!jobs?.length) { stats.deadLettered++; sends.push(deps.producer.send(dlq(m, partition, `unknown file ${p.filename}`))); return; }
      // a file in staging jobs notifies those; otherwise the newest job records the late notification (the processor ignores it)
      const staging = jobs.filter((j) => j.status === 'STAGING');
      if (!staging.length) stats.ignored++;
      const at = Number(m.timestamp) || Date.now();
      for (const { jobId } of staging.length ? staging : [jobs[jobs.length - 1]]) {
        let g = byJob.get(jobId);
        if (!g) byJob.set(jobId, (g = { staged: [], failed: [], first: at, last: at }));
        if (p.error) g.failed.push({ file: p.filename, error: p.message });
        else g.staged.push(p.filename);
        g.last = Math.max(g.last, at);
      }
    });
    const range = `${messages[0].offset}-${messages[messages.length - 1].offset}`;
    for (const [jobId, g] of byJob) {
      // the id comes from the offsets, so a redelivered chunk gives the same event and consumers drop it
      const eventId = derivedId(SOURCE, topic, partition, range, jobId);
      sends.push(deps.appender.append('TapeFilesStaged', jobKey(jobId), { jobId, staged: g.staged, failed: g.failed, firstNotifiedAt: g.first }, { eventId, occurredAt: g.last }));
      stats.appended++;
    }
    await Promise.all(sends);
    stats.consumed += messages.length;
    stats.lastAppendedAt = Date.now();
  }

  const consumer: Consumer = deps.kafka.consumer({ groupId: ns(deps.config, `dbb.${SOURCE}`), maxWaitTimeInMs: 50, maxBytesPerPartition: 8 << 20 });
  // a fresh topic may not be served yet by a loaded broker: retriable, as in the consumer runtime
  await pRetry(async () => {
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
  }, { retries: 8, minTimeout: 200, maxTimeout: 3000, shouldRetry: ({ error }) => (error as { retriable?: boolean }).retriable !== false });
  await consumer.run({
    autoCommit: false,
    eachBatchAutoResolve: false,
    partitionsConsumedConcurrently: PARTITIONS_AT_ONCE,
    eachBatch: async ({ batch, resolveOffset, heartbeat, commitOffsetsIfNecessary, isRunning, isStale }) => {
      for (let i = 0; i < batch.messages.length; i += 2000) {
        if (!isRunning() || isStale()) return;
        const chunk = batch.messages.slice(i, i + 2000);
        // at least once: events are appended before the offset is committed; a redelivered notification is
        // dropped by the processor (its file is no longer PENDING)
        await handleChunk(batch.partition, chunk);
        const last = chunk[chunk.length - 1].offset;
        resolveOffset(last);
        // with autoCommit off, commitOffsetsIfNecessary() without offsets never commits: a restart then
        // re-read every notification ever published
        await commitOffsetsIfNecessary({ topics: [{ topic: batch.topic, partitions: [{ partition: batch.partition, offset: String(BigInt(last) + 1n) }] }] });
        await heartbeat();
      }
    },
  });

  let seq = 0;
  let ticking: Promise<void> | null = null;
  async function tick() {
    let cache: string | null = null;
    try { cache = JSON.stringify(await scout.fsCache()); } catch (err) { log.debug({ err }, 'fscache unavailable'); }
    await deps.appender.append('TapeJobTimeoutChecked', 'tick', { tick: ++seq, notificationsConsumed: stats.consumed, cache });
    stats.ticks++;
  }
  const timer = opts.ticker === false ? null : setInterval(() => {
    if (ticking) return;
    ticking = tick().catch((err) => log.warn({ err }, 'tape tick failed')).finally(() => { ticking = null; });
  }, cfg.tickMs);

  return {
    stats,
    tick,
    async stop() {
      if (timer) clearInterval(timer);
      await ticking;
      await consumer.disconnect();
      if (!deps.db) await db.end();
    },
  };
}

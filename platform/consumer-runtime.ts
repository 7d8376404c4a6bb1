// The one consumer loop (ARCHITECTURE §4) for processors and projections: eachBatch, one Postgres
// transaction per sub-batch holding the handler's writes, outgoing events (outbox) and the stored
// offset; the stored offset row is the fence; duplicates dropped by eventId; bad records to .dlq;
// transient errors retried with backoff, never skipped.
// The pieces live in platform/consumer/: offsets (stored offsets, fence), dedupe (processed ids),
// dlq (dead-letter records), effects-ledger (runEffect), batch (one sub-batch transaction); this file
// wires them into kafkajs's eachBatch (seek, sub-batches, retries, heartbeats, stopAt).
import type { Kafka, Consumer } from 'kafkajs';
import type { Logger } from 'pino';
import pRetry from 'p-retry';
import { ns, type Config } from './config.ts';
import { migrateConsumerSchema, quoteIdent, schemaOf, type Db } from './db.ts';
import type { Serde } from './registry.ts';
import { isTransient } from './errors.ts';
import type { ConsumerSpec } from './types.ts';
import { FenceLost, readStored, seekTarget } from './consumer/offsets.ts';
import { startPruning } from './consumer/dedupe.ts';
import { applyChunkIsolating, type BatchEnv } from './consumer/batch.ts';
import { metrics } from './metrics.ts';

export interface RuntimeDeps {
  config: Config;
  kafka: Kafka;
  db: Db;
  /** A separate small pool for effect marks, which are written while a batch holds a `db` connection
   *  (one pool for both could deadlock when every connection is held by a batch waiting in runEffect). */
  marksDb?: Db;
  serde: Serde;
  log: Logger;
}

export interface RunOptions {
  /** Postgres schema for state + offsets (default: from the consumer name). Replay uses a shadow schema. */
  schema?: string;
  /** Kafka consumer group (default dbb.<name>); offsets are stored under `offsetsGroup` either way. */
  kafkaGroupId?: string;
  offsetsGroup?: string;
  /** Stop consuming a partition at this offset (exclusive), keyed `topic:partition` with namespaced topic. */
  stopAt?: Map<string, bigint>;
  onProgress?: (applied: number) => void;
  partitionsConsumedConcurrently?: number;
}

export interface RunningConsumer {
  name: string;
  groupId: string;
  schema: string;
  /** Resolves when every partition in `stopAt` is reached (never, without stopAt). */
  caughtUp: Promise<void>;
  /** Why the consumer stopped for good (a crash kafkajs does not restart), or null while it runs. */
  failure(): string | null;
  stop(): Promise<void>;
}


export const groupIdOf = (config: Pick<Config, 'namespace'>, spec: Pick<ConsumerSpec, 'name'>) => ns(config, `dbb.${spec.name}`);

export async function startConsumer(spec: ConsumerSpec, deps: RuntimeDeps, opts: RunOptions = {}): Promise<RunningConsumer> {
  const { config, kafka, db, serde } = deps;
  const marks = deps.marksDb ?? db;
  const schema = opts.schema ?? schemaOf(spec.name);
  const groupId = opts.kafkaGroupId ?? groupIdOf(config, spec);
  const offsetsGroup = opts.offsetsGroup ?? groupIdOf(config, spec);
  const log = deps.log.child({ consumer: spec.name });
  const q = quoteIdent(schema);
  await migrateConsumerSchema(config.databaseUrl, schema, spec.migrationsDir, log);

  const topics = spec.topics.map((t) => ns(config, t));
  const consumer: Consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 100, sessionTimeout: config.sessionTimeoutMs, heartbeatInterval: Math.max(500, Math.floor(config.sessionTimeoutMs / 10)), maxBytesPerPartition: 8 << 20 });
  // kafkajs restarts a consumer after a retriable crash; after any other it stays stopped (the process
  // lives on, the consumer does nothing): say which, so a silent stop shows in the log
  let failure: string | null = null;
  consumer.on(consumer.events.CRASH, ({ payload }) => {
    (payload.restart ? log.warn.bind(log) : log.error.bind(log))({ err: payload.error, restart: payload.restart }, 'kafka consumer crashed');
    if (!payload.restart && !stopping) failure = `crashed: ${payload.error.message}`;
  });
  const env: BatchEnv = { spec, config, db, marks, serde, log, schema, offsets: { q, group: offsetsGroup } };
  const seekedTo = new Map<string, bigint>();
  let applied = 0;
  let stopping = false;

  const stopAt = opts.stopAt;
  const reached = new Set<string>();
  let resolveCaughtUp!: () => void;
  const caughtUp = new Promise<void>((r) => { resolveCaughtUp = r; });
  const markReached = (tp: string) => {
    reached.add(tp);
    if (stopAt && [...stopAt.keys()].every((k) => reached.has(k))) resolveCaughtUp();
  };
  if (stopAt) for (const [tp, end] of stopAt) if (end === 0n) markReached(tp);

  // right after topic creation a loaded broker may not serve the new partitions yet: retriable
  await pRetry(async () => {
    await consumer.connect();
    await consumer.subscribe({ topics, fromBeginning: true });
  }, { retries: 8, minTimeout: 200, maxTimeout: 3000, shouldRetry: ({ error }) => (error as { retriable?: boolean }).retriable !== false && !stopping });
  await consumer.run({
    // Postgres holds the offsets that count; Kafka gets the resolved ones (only after each Postgres
    // commit) so lag tools see progress and a restart fetches near the stored offset
    autoCommit: true,
    autoCommitInterval: 1000,
    eachBatchAutoResolve: false,
    partitionsConsumedConcurrently: opts.partitionsConsumedConcurrently ?? 3,
    eachBatch: async ({ batch, resolveOffset, heartbeat, commitOffsetsIfNecessary, isRunning, isStale }) => {
      const { topic, partition } = batch;
      const tp = `${topic}:${partition}`;
      if (!batch.messages.length || reached.has(tp)) return;
      let stored = await pRetry(() => readStored(db, env.offsets, topic, partition), { retries: 1e9, maxTimeout: 5000, shouldRetry: ({ error }) => isTransient(error) && !stopping });
      const first = BigInt(batch.firstOffset() ?? batch.messages[0].offset);
      if (seekTarget(first, stored, seekedTo.get(tp)) !== null) {
        // Kafka's position differs from what Postgres holds (offsets.ts seekTarget): go to the stored offset
        seekedTo.set(tp, stored);
        consumer.seek({ topic, partition, offset: String(stored) });
        return;
      }
      const end = stopAt?.get(tp);
      let pending = batch.messages.filter((m) => BigInt(m.offset) >= stored && (end === undefined || BigInt(m.offset) < end));
      while (pending.length) {
        if (!isRunning() || isStale() || stopping) return;
        const chunk = pending.slice(0, config.batchMaxRecords);
        pending = pending.slice(chunk.length);
        // long handlers (external commands, big copies) must not cost the partition: heartbeat meanwhile
        const beat = setInterval(() => { heartbeat().catch(() => {}); }, Math.max(500, Math.floor(config.sessionTimeoutMs / 5)));
        const timer = metrics.batchSeconds.startTimer({ consumer: spec.name });
        try {
          await pRetry(() => applyChunkIsolating(env, topic, partition, stored, chunk), {
            retries: 1e9, minTimeout: 100, maxTimeout: 5000,
            shouldRetry: ({ error }) => isTransient(error) && !stopping,
            onFailedAttempt: async ({ error, attemptNumber }) => {
              if (isTransient(error)) log.warn({ err: error, attemptNumber }, 'transient error; retrying batch');
              await heartbeat().catch(() => {});
            },
          });
        } catch (err) {
          if (err instanceof FenceLost) {
            // another instance (or a replay swap) moved the stored offset: continue from what Postgres says
            const now = await readStored(db, env.offsets, topic, partition);
            log.warn({ topic, partition, expected: String(stored), stored: String(now) }, 'offset fence lost; seeking to stored offset');
            seekedTo.set(tp, now);
            consumer.seek({ topic, partition, offset: String(now) });
            return;
          }
          throw err;
        } finally {
          clearInterval(beat);
        }
        timer();
        metrics.batchSize.observe({ consumer: spec.name }, chunk.length);
        const last = chunk[chunk.length - 1].offset;
        stored = BigInt(last) + 1n;
        applied += chunk.length;
        opts.onProgress?.(applied);
        resolveOffset(last);
        await heartbeat();
      }
      if (end !== undefined && stored >= end) markReached(tp);
      await commitOffsetsIfNecessary();
    },
  });

  const stopPruning = startPruning(db, q, config.processedIdsRetentionH, log);

  return {
    name: spec.name,
    groupId,
    schema,
    caughtUp,
    failure: () => failure,
    async stop() {
      stopping = true;
      stopPruning();
      await consumer.disconnect();
    },
  };
}

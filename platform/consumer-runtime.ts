// The one consumer loop (ARCHITECTURE §4) for processors and projections: eachBatch, one Postgres
// transaction per sub-batch holding the handler's writes, outgoing events (outbox) and the stored
// offset; the stored offset row is the fence; duplicates dropped by eventId; bad records to .dlq;
// transient errors retried with backoff, never skipped.
// The pieces live in platform/consumer/: offsets (stored offsets, fence), dedupe (processed ids),
// dlq (dead-letter records), effects-ledger (runEffect), batch (one sub-batch transaction); this file
// wires them into kafkajs's eachBatch (seek, sub-batches, retries, heartbeats, stopAt).
import type { Kafka, Consumer, KafkaMessage } from 'kafkajs';
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


/** One partition's queue: the batch being applied and at most one queued behind it. */
interface Lane {
  tail: Promise<void>;
  /** The offset after the last queued record, or null when Postgres must be read first. */
  next: bigint | null;
  /** Bumped when queued work must not be applied any more (seek, rebalance, failure). */
  gen: number;
  /** Why the lane's last batch failed, until eachBatch hands it to kafkajs. */
  failed: Error | null;
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
  // Keep partitions flowing: kafkajs fetches again only when every eachBatch of the last fetch has
  // returned. So eachBatch queues its records on the partition's lane and returns as soon as the lane's
  // previous batch is applied: the next fetch overlaps the lane's current transaction (one batch applied,
  // one queued, per partition). The fetch position moves when a batch is queued; Postgres's stored
  // offset, the fence, stays what counts, and any mismatch is settled by reading it again.
  const lanes = new Map<string, Lane>();
  const laneOf = (tp: string) => { let l = lanes.get(tp); if (!l) { l = { tail: Promise.resolve(), next: null, gen: 0, failed: null }; lanes.set(tp, l); } return l; };
  const throwIfFailed = (lane: Lane) => { const err = lane.failed; if (err) { lane.failed = null; throw err; } };
  // after a rebalance another instance may have moved a partition's stored offset: read it again once
  // the lane's queued work is done (a partition lost meanwhile fails its fence)
  consumer.on(consumer.events.GROUP_JOIN, () => { for (const l of lanes.values()) l.next = null; });

  /** Applies `pending` (one partition, from `from` on) sub-batch by sub-batch. */
  const applyAll = async (lane: Lane, gen: number, topic: string, partition: number, from: bigint, pending: KafkaMessage[], kafka: { heartbeat: () => Promise<void>; isRunning: () => boolean }) => {
    const tp = `${topic}:${partition}`;
    let stored = from;
    while (pending.length) {
      if (!kafka.isRunning() || stopping || lane.gen !== gen) return;
      const chunk = pending.slice(0, config.batchMaxRecords);
      pending = pending.slice(chunk.length);
      // long handlers (external commands, big copies) must not cost the partition: heartbeat meanwhile
      const beat = setInterval(() => { kafka.heartbeat().catch(() => {}); }, Math.max(500, Math.floor(config.sessionTimeoutMs / 5)));
      const timer = metrics.batchSeconds.startTimer({ consumer: spec.name });
      try {
        await pRetry(() => applyChunkIsolating(env, topic, partition, stored, chunk), {
          retries: 1e9, minTimeout: 100, maxTimeout: 5000,
          shouldRetry: ({ error }) => isTransient(error) && !stopping,
          onFailedAttempt: async ({ error, attemptNumber }) => {
            if (isTransient(error)) log.warn({ err: error, attemptNumber }, 'transient error; retrying batch');
            await kafka.heartbeat().catch(() => {});
          },
        });
      } catch (err) {
        if (err instanceof FenceLost) {
          // another instance (or a replay swap) moved the stored offset: continue from what Postgres says
          const now = await readStored(db, env.offsets, topic, partition);
          log.warn({ topic, partition, expected: String(stored), stored: String(now) }, 'offset fence lost; seeking to stored offset');
          lane.next = null;
          lane.gen++;
          seekedTo.set(tp, now);
          try { consumer.seek({ topic, partition, offset: String(now) }); } catch (e) { log.warn({ err: e, topic, partition }, 'seek after a lost fence failed (partition no longer assigned?)'); }
          return;
        }
        throw err;
      } finally {
        clearInterval(beat);
      }
      timer();
      metrics.batchSize.observe({ consumer: spec.name }, chunk.length);
      stored = BigInt(chunk[chunk.length - 1].offset) + 1n;
      applied += chunk.length;
      opts.onProgress?.(applied);
      await kafka.heartbeat().catch(() => {});
    }
    const end = stopAt?.get(tp);
    if (end !== undefined && stored >= end) markReached(tp);
    // Kafka's committed offset never passes what Postgres holds: a restarted or rebalanced consumer
    // fetches from there (kafkajs's fetch position, moved when a batch is queued, lives in memory only).
    // Not awaited: it is only where fetching restarts (behind the stored offset means a seek), and the
    // lane's next batch need not wait for the group coordinator
    consumer.commitOffsets([{ topic, partition, offset: String(stored) }]).catch(() => {});
  };

  await consumer.run({
    // Postgres holds the offsets that count; Kafka gets them after each applied batch (applyAll) so a
    // restart fetches near the stored offset
    autoCommit: false,
    eachBatchAutoResolve: false,
    partitionsConsumedConcurrently: opts.partitionsConsumedConcurrently ?? 3,
    eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning }) => {
      const { topic, partition } = batch;
      const tp = `${topic}:${partition}`;
      if (!batch.messages.length || reached.has(tp)) return;
      const lane = laneOf(tp);
      throwIfFailed(lane);
      const first = BigInt(batch.firstOffset() ?? batch.messages[0].offset);
      if (lane.next === null || first !== lane.next) {
        // not the continuation of what the lane queued: settle the lane, then compare with Postgres
        await lane.tail;
        throwIfFailed(lane);
        lane.gen++;
        lane.next = null;
        const stored = await pRetry(() => readStored(db, env.offsets, topic, partition), { retries: 1e9, maxTimeout: 5000, shouldRetry: ({ error }) => isTransient(error) && !stopping });
        if (seekTarget(first, stored, seekedTo.get(tp)) !== null) {
          // Kafka's position differs from what Postgres holds (offsets.ts seekTarget): go to the stored offset
          seekedTo.set(tp, stored);
          consumer.seek({ topic, partition, offset: String(stored) });
          return;
        }
        lane.next = stored;
      }
      const end = stopAt?.get(tp);
      const from = lane.next;
      const pending = batch.messages.filter((m) => BigInt(m.offset) >= from && (end === undefined || BigInt(m.offset) < end));
      if (!pending.length) {
        if (end !== undefined && from >= end) markReached(tp);
        return;
      }
      const last = pending[pending.length - 1].offset;
      lane.next = BigInt(last) + 1n;
      const previous = lane.tail;
      const gen = lane.gen;
      lane.tail = previous.then(() => applyAll(lane, gen, topic, partition, from, pending, { heartbeat, isRunning }).catch((err) => {
        if (lane.gen !== gen) return;
        // not transient, not a lost fence: fetch the batch again and hand the error to kafkajs from the
        // lane's next eachBatch (it restarts the consumer, which then seeks to the stored offset)
        log.error({ err, topic, partition }, 'batch failed');
        lane.failed = err instanceof Error ? err : new Error(String(err));
        lane.next = null;
        lane.gen++;
        try { consumer.seek({ topic, partition, offset: String(from) }); } catch { /* no longer assigned: the next owner reads Postgres */ }
      }));
      resolveOffset(last);
      await previous;
      throwIfFailed(lane);
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
      const settled = () => Promise.all([...lanes.values()].map((l) => l.tail));
      await settled();
      await consumer.disconnect();
      await settled(); // a batch queued while disconnecting
    },
  };
}

// The one consumer loop (ARCHITECTURE §4) for processors and projections: eachBatch, one Postgres
// transaction per sub-batch holding the handler's writes, outgoing events (outbox) and the stored
// offset; the stored offset row is the fence; duplicates dropped by eventId; bad records to .dlq;
// transient errors retried with backoff, never skipped.
import type { Kafka, Consumer, KafkaMessage, IHeaders } from 'kafkajs';
import type { Logger } from 'pino';
import pRetry from 'p-retry';
import { ns, type Config } from './config.ts';
import { migrateConsumerSchema, quoteIdent, schemaOf, withTx, type Db, type Tx } from './db.ts';
import { enqueue } from './outbox.ts';
import type { Serde } from './registry.ts';
import { baseTopic, DLQ_SUFFIX } from './kafka.ts';
import { eventHeaders, makeMeta, type RawRecord } from './producer.ts';
import { derivedId } from './ids.ts';
import { InvalidEventError, isTransient, TransientError } from './errors.ts';
import { metrics } from './metrics.ts';
import type { AppendOptions, ConsumerSpec, DecodedEvent, EffectOutcome, HandlerContext, Meta } from './types.ts';

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
  stop(): Promise<void>;
}

class FenceLost extends Error {}
class NeedIsolation extends Error {}

type Decoding = { ok: true; event: DecodedEvent } | { ok: false; error: Error };

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
  consumer.on(consumer.events.CRASH, ({ payload }) => {
    (payload.restart ? log.warn.bind(log) : log.error.bind(log))({ err: payload.error, restart: payload.restart }, 'kafka consumer crashed');
  });
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

  async function readStored(topic: string, partition: number): Promise<bigint> {
    await db.query(`INSERT INTO ${q}.consumer_offsets (group_id, topic, partition, next_offset) VALUES ($1, $2, $3, 0) ON CONFLICT DO NOTHING`, [offsetsGroup, topic, partition]);
    const { rows } = await db.query(`SELECT next_offset FROM ${q}.consumer_offsets WHERE group_id = $1 AND topic = $2 AND partition = $3`, [offsetsGroup, topic, partition]);
    return BigInt(rows[0].next_offset);
  }

  async function decode(m: KafkaMessage, topic: string, partition: number): Promise<Decoding> {
    try {
      const d = await serde.decode(m.value);
      const value = d.value as { meta: Meta };
      return { ok: true, event: { name: d.entry.name as any, value: value as any, meta: value.meta, key: m.key?.toString() ?? '', topic: baseTopic(config, topic), partition, offset: m.offset } };
    } catch (err) {
      if (err instanceof InvalidEventError) return { ok: false, error: err };
      throw err; // transient (registry down): the chunk is retried
    }
  }

  function dlqRecord(topic: string, partition: number, m: KafkaMessage, error: Error): RawRecord {
    const headers: IHeaders = { ...(m.headers ?? {}) };
    headers['dbb-error'] = error.message.slice(0, 2000);
    headers['dbb-error-code'] = (error as { code?: string }).code ?? error.name;
    headers['dbb-original-topic'] = topic;
    headers['dbb-original-partition'] = String(partition);
    headers['dbb-original-offset'] = m.offset;
    headers['dbb-consumer'] = spec.name;
    return { topic: topic + DLQ_SUFFIX, key: m.key?.toString() ?? null, value: m.value, headers };
  }

  function context(tx: Tx, event: DecodedEvent, out: RawRecord[]): HandlerContext {
    let n = 0;
    return {
      tx,
      log,
      async emit(name, key, body, o: AppendOptions = {}) {
        const entry = serde.catalog.get(name);
        const meta = makeMeta(spec.name, {
          correlationId: event.meta.correlationId,
          actor: event.meta.actor,
          causationId: event.meta.eventId,
          occurredAt: event.meta.occurredAt,
          eventId: derivedId(event.meta.eventId, spec.name, name, key, n++),
          ...o,
        });
        out.push({ topic: ns(config, entry.topic), key, value: serde.encode(name, { meta, ...body }), headers: eventHeaders(entry.name, meta) });
        return meta;
      },
      async runEffect<T>(effectId: string, fn: () => Promise<T>, o: { idempotent?: boolean } = {}): Promise<EffectOutcome<T>> {
        if (o.idempotent) return { status: 'DONE', result: await fn() };
        const { rows } = await tx.query(`SELECT state, result FROM ${q}.effects WHERE effect_id = $1`, [effectId]);
        if (rows[0]?.state === 'DONE') return { status: 'DONE', result: rows[0].result as T };
        if (rows[0]?.state === 'STARTED') return { status: 'UNKNOWN' };
        // STARTED is committed on its own connection before the effect runs: a crash after this line leaves the mark
        await marks.query(`INSERT INTO ${q}.effects (effect_id, state) VALUES ($1, 'STARTED')`, [effectId]);
        let result: T;
        try {
          result = await fn();
        } catch (err) {
          await marks.query(`DELETE FROM ${q}.effects WHERE effect_id = $1`, [effectId]);
          throw err;
        }
        // DONE is committed on its own too: the effect happened whether or not this batch commits, so a
        // retried batch gets the result back instead of UNKNOWN
        await marks.query(`UPDATE ${q}.effects SET state = 'DONE', result = $2, done_at = now() WHERE effect_id = $1`, [effectId, JSON.stringify(result ?? null)]);
        return { status: 'DONE', result };
      },
    };
  }

  async function applyChunk(topic: string, partition: number, fence: bigint, messages: KafkaMessage[], isolate: boolean): Promise<void> {
    const decoded = await Promise.all(messages.map((m) => decode(m, topic, partition)));
    await withTx(db, async (tx) => {
      // the client is checked out (no pool 'error' listener) and idle while handlers run effects: a
      // connection lost then must fail the next query, retried as transient, not end the process as an
      // unhandled 'error' event (pg's "not queryable" error that follows carries no SQLSTATE)
      let lost: Error | null = null;
      const onError = (err: Error) => { lost = err; log.warn({ err }, 'batch connection lost'); };
      tx.on('error', onError);
      try {
        await applyInTx(topic, partition, fence, messages, isolate, decoded, tx);
      } catch (err) {
        if (lost && !(err instanceof FenceLost)) throw new TransientError('batch connection lost', err);
        throw err;
      } finally {
        tx.removeListener('error', onError);
      }
    }, schema);
  }

  async function applyInTx(topic: string, partition: number, fence: bigint, messages: KafkaMessage[], isolate: boolean, decoded: Decoding[], tx: Tx): Promise<void> {
    {
      const ids = decoded.flatMap((d) => (d.ok ? [d.event.meta.eventId] : []));
      const fresh = new Set<string>();
      if (ids.length) {
        const { rows } = await tx.query(`INSERT INTO ${q}.processed_events (event_id) SELECT unnest($1::uuid[]) ON CONFLICT DO NOTHING RETURNING event_id`, [ids]);
        for (const r of rows) fresh.add(r.event_id);
      }
      const out: RawRecord[] = [];
      let dead = 0;
      if (spec.handleBatch && !isolate) {
        const events: DecodedEvent[] = [];
        for (let i = 0; i < messages.length; i++) {
          const d = decoded[i];
          if (!d.ok) { out.push(dlqRecord(topic, partition, messages[i], d.error)); dead++; }
          else if (fresh.delete(d.event.meta.eventId)) events.push(d.event);
          else metrics.duplicates.inc({ consumer: spec.name });
        }
        const emitted: RawRecord[] = [];
        let res: Awaited<ReturnType<NonNullable<ConsumerSpec['handleBatch']>>>;
        try {
          res = await spec.handleBatch(events, { tx, log, forEvent: (e) => context(tx, e, emitted) });
        } catch (err) {
          if (isTransient(err)) throw err;
          throw new NeedIsolation();
        }
        out.push(...emitted);
        const byOffset = new Map(messages.map((m) => [m.offset, m]));
        for (const { event, error } of res?.invalid ?? []) {
          log.warn({ reason: error.message, offset: event.offset, event: event.name }, 'invalid event dead-lettered');
          out.push(dlqRecord(topic, partition, byOffset.get(event.offset)!, error));
          dead++;
        }
      } else for (let i = 0; i < messages.length; i++) {
        const d = decoded[i];
        if (!d.ok) { out.push(dlqRecord(topic, partition, messages[i], d.error)); dead++; continue; }
        if (!fresh.delete(d.event.meta.eventId)) { metrics.duplicates.inc({ consumer: spec.name }); continue; }
        const emitted: RawRecord[] = [];
        const end = metrics.handlerSeconds.startTimer({ consumer: spec.name });
        if (isolate) await tx.query('SAVEPOINT dbb_event');
        try {
          await spec.handle(d.event, context(tx, d.event, emitted));
          if (isolate) await tx.query('RELEASE SAVEPOINT dbb_event');
          out.push(...emitted);
        } catch (err) {
          if (isTransient(err)) throw err;
          if (!isolate) throw new NeedIsolation();
          await tx.query('ROLLBACK TO SAVEPOINT dbb_event');
          const e = err instanceof Error ? err : new Error(String(err));
          if (!(err instanceof InvalidEventError)) log.error({ err, offset: messages[i].offset, event: d.event.name }, 'handler failed; event dead-lettered');
          else log.warn({ reason: e.message, offset: messages[i].offset, event: d.event.name }, 'invalid event dead-lettered');
          out.push(dlqRecord(topic, partition, messages[i], e));
          dead++;
        } finally {
          end();
        }
      }
      await enqueue(tx, out);
      const last = BigInt(messages[messages.length - 1].offset);
      const upd = await tx.query(
        `UPDATE ${q}.consumer_offsets SET next_offset = $4, updated_at = now() WHERE group_id = $1 AND topic = $2 AND partition = $3 AND next_offset = $5`,
        [offsetsGroup, topic, partition, String(last + 1n), String(fence)]);
      if (upd.rowCount !== 1) throw new FenceLost();
      metrics.handled.inc({ consumer: spec.name }, messages.length - dead);
      if (dead) metrics.deadLettered.inc({ consumer: spec.name }, dead);
    }
  }

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
      let stored = await pRetry(() => readStored(topic, partition), { retries: 1e9, maxTimeout: 5000, shouldRetry: ({ error }) => isTransient(error) && !stopping });
      const first = BigInt(batch.firstOffset() ?? batch.messages[0].offset);
      if (first < stored || (first > stored && seekedTo.get(tp) !== stored)) {
        // Kafka's position differs from what Postgres holds: behind it (Kafka's committed offsets trail Postgres, and
        // skipping instead would re-fetch the same batch forever on a partition bigger than one fetch) or ahead of it
        // (new schema, replay swap): go to the stored offset
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
        try {
          await pRetry(async () => {
            try {
              await applyChunk(topic, partition, stored, chunk, false);
            } catch (err) {
              if (err instanceof NeedIsolation) await applyChunk(topic, partition, stored, chunk, true);
              else throw err;
            }
          }, {
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
            const now = await readStored(topic, partition);
            log.warn({ topic, partition, expected: String(stored), stored: String(now) }, 'offset fence lost; seeking to stored offset');
            seekedTo.set(tp, now);
            consumer.seek({ topic, partition, offset: String(now) });
            return;
          }
          throw err;
        } finally {
          clearInterval(beat);
        }
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

  const prune = setInterval(() => {
    db.query(`DELETE FROM ${q}.processed_events WHERE processed_at < now() - make_interval(hours => $1)`, [config.processedIdsRetentionH])
      .catch((err) => log.warn({ err }, 'pruning processed ids failed'));
  }, 10 * 60_000);
  prune.unref();

  return {
    name: spec.name,
    groupId,
    schema,
    caughtUp,
    async stop() {
      stopping = true;
      clearInterval(prune);
      await consumer.disconnect();
    },
  };
}

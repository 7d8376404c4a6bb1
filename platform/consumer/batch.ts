// One sub-batch of one partition in one Postgres transaction (ARCHITECTURE §4): duplicates dropped by
// eventId, the handler's writes, the outgoing events and dead letters (outbox), then the fence update.
// The handleBatch fast path first; if it throws a non-transient error the chunk is re-applied one event
// at a time under savepoints (isolate), so a poison event is dead-lettered and the others apply.
import type { KafkaMessage } from 'kafkajs';
import type { Logger } from 'pino';
import { ns, type Config } from '../config.ts';
import type pg from 'pg';
import { quoteIdent, type Db, type Tx } from '../db.ts';
import { enqueue } from '../outbox.ts';
import type { Serde } from '../registry.ts';
import { baseTopic } from '../kafka.ts';
import { eventHeaders, makeMeta, type RawRecord } from '../producer.ts';
import { derivedId } from '../ids.ts';
import { InvalidEventError, isTransient, TransientError } from '../errors.ts';
import { metrics } from '../metrics.ts';
import type { AppendOptions, ConsumerSpec, DecodedEvent, HandlerContext, Meta } from '../types.ts';
import { advanceFence, fenceAndCommitSql, FenceLost, isFenceLost, type OffsetsTable } from './offsets.ts';
import { claimFresh, claimSql } from './dedupe.ts';
import { dlqRecord } from './dlq.ts';
import { runEffect } from './effects-ledger.ts';
import { contextFromHeaders, failSpan, SpanKind, startSpan, tracingOn, withContext, type Context, type Span } from '../tracing.ts';

/** The fast path failed on a non-transient error: re-apply the chunk with isolate = true. */
export class NeedIsolation extends Error {}

export type Decoding = { ok: true; event: DecodedEvent } | { ok: false; error: Error };

/** What a batch needs from its consumer. */
export interface BatchEnv {
  spec: ConsumerSpec;
  config: Config;
  db: Db;
  marks: Db;
  serde: Serde;
  log: Logger;
  /** Consumer schema (search_path of the batch) and its quoted form. */
  schema: string;
  offsets: OffsetsTable;
}

export async function decode(env: Pick<BatchEnv, 'serde' | 'config'> & { spec?: Pick<ConsumerSpec, 'decode'> }, m: KafkaMessage, topic: string, partition: number): Promise<Decoding> {
  try {
    if (env.spec?.decode) {
      const f = env.spec.decode(m, baseTopic(env.config, topic), partition);
      return { ok: true, event: { ...f, key: m.key?.toString() ?? '', topic: baseTopic(env.config, topic), partition, offset: m.offset } as DecodedEvent };
    }
    const d = await env.serde.decode(m.value);
    const value = d.value as { meta: Meta };
    return { ok: true, event: { name: d.entry.name as any, value: value as any, meta: value.meta, key: m.key?.toString() ?? '', topic: baseTopic(env.config, topic), partition, offset: m.offset } };
  } catch (err) {
    if (err instanceof InvalidEventError) return { ok: false, error: err };
    throw err; // transient (registry down): the chunk is retried
  }
}

/** The handler's view of one event: emit (deterministic ids, into `out`) and runEffect; `trace` is the
 *  event's consumer span context (tracing on), which the emitted records carry as their parent. */
export function context(env: BatchEnv, tx: Tx, event: DecodedEvent, out: RawRecord[], trace?: Context): HandlerContext {
  const { spec, serde, config, log } = env;
  let n = 0;
  return {
    tx,
    log,
    traceContext: trace,
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
      out.push({ topic: ns(config, entry.topic), key, value: serde.encode(name, { meta, ...body }), headers: eventHeaders(entry.name, meta, trace) });
      return meta;
    },
    runEffect<T>(effectId: string, fn: () => Promise<T>, o: { idempotent?: boolean } = {}) {
      return runEffect<T>({ tx, marks: env.marks, q: env.offsets.q }, effectId, fn, o);
    },
  };
}

/** One consumer span per record (tracing on only), child of the traceparent its headers carry. */
function consumerSpan(env: BatchEnv, m: KafkaMessage, topic: string, event: DecodedEvent): { span: Span; ctx: Context } {
  return startSpan(`${env.spec.name} ${event.name}`, contextFromHeaders(m.headers), {
    'messaging.system': 'kafka', 'messaging.operation.type': 'process', 'messaging.destination.name': topic,
    'messaging.destination.partition.id': String(event.partition), 'messaging.kafka.offset': Number(m.offset),
    'messaging.consumer.group.name': env.offsets.group, 'dbb.consumer': env.spec.name, 'dbb.event': event.name, 'dbb.correlation_id': event.meta.correlationId,
  }, SpanKind.CONSUMER);
}

/** Applies `messages` (offsets from `fence` on) in one transaction; throws FenceLost, NeedIsolation
 *  (not isolating only) or a transient error, after which nothing of the chunk is committed.
 *  Round trips besides the handler's (platform/consumer/batch.test.ts counts them): BEGIN + search_path
 *  + the dedupe claim as one query, the outbox insert + NOTIFY (when there is output), the fence + COMMIT. */
export async function applyChunk(env: BatchEnv, topic: string, partition: number, fence: bigint, messages: KafkaMessage[], isolate: boolean): Promise<void> {
  const decoded = await Promise.all(messages.map((m) => decode(env, m, topic, partition)));
  const tx = await env.db.connect();
  // the client is checked out (no pool 'error' listener) and idle while handlers run effects: a
  // connection lost then must fail the next query, retried as transient, not end the process as an
  // unhandled 'error' event (pg's "not queryable" error that follows carries no SQLSTATE)
  let lost: Error | null = null;
  const onError = (err: Error) => { lost = err; env.log.warn({ err }, 'batch connection lost'); };
  tx.on('error', onError);
  try {
    const fresh = await begin(env, tx, decoded.flatMap((d) => (d.ok ? [d.event.meta.eventId] : [])));
    const { out, dead } = await applyInTx(env, topic, partition, messages, isolate, decoded, tx, fresh);
    await enqueue(tx, out);
    await commitFenced(env, tx, topic, partition, fence, BigInt(messages[messages.length - 1].offset) + 1n);
    metrics.handled.inc({ consumer: env.spec.name }, messages.length - dead);
    if (dead) metrics.deadLettered.inc({ consumer: env.spec.name }, dead);
  } catch (err) {
    await tx.query('ROLLBACK').catch(() => {});
    if (lost && !(err instanceof FenceLost)) throw new TransientError('batch connection lost', err);
    throw err;
  } finally {
    tx.removeListener('error', onError);
    tx.release();
  }
}

/** Opens the batch transaction and claims the fresh event ids, in one simple-protocol query. A
 *  projection commits without waiting for the WAL flush: it has no effects and emits nothing, and a
 *  Postgres crash loses its last transactions whole, stored offsets included, so they are applied
 *  again from the log (exactly once still). A processor waits: its effects and outbox must not outlive
 *  the record of them. */
async function begin(env: BatchEnv, tx: Tx, ids: string[]): Promise<Set<string>> {
  const head = `BEGIN; SET LOCAL search_path TO ${quoteIdent(env.schema)}, public${env.spec.kind === 'projection' ? '; SET LOCAL synchronous_commit TO off' : ''}`;
  const claim = claimSql(env.offsets.q, ids);
  if (claim === null) {
    await tx.query(head);
    return claimFresh(tx, env.offsets.q, ids);
  }
  const res = await tx.query(`${head}; ${claim}`) as unknown as pg.QueryResult<{ event_id: string }>[];
  return new Set(res[res.length - 1].rows.map((r) => r.event_id));
}

/** Moves the fence from `from` to `to` and commits, in one query (FenceLost when the fence moved). */
async function commitFenced(env: BatchEnv, tx: Tx, topic: string, partition: number, from: bigint, to: bigint): Promise<void> {
  const sql = fenceAndCommitSql(env.offsets, topic, partition, from, to);
  if (sql === null) {
    await advanceFence(tx, env.offsets, topic, partition, from, to);
    await tx.query('COMMIT');
    return;
  }
  try {
    await tx.query(sql);
  } catch (err) {
    if (isFenceLost(err)) throw new FenceLost();
    throw err;
  }
}

async function applyInTx(env: BatchEnv, topic: string, partition: number, messages: KafkaMessage[], isolate: boolean, decoded: Decoding[], tx: Tx, fresh: Set<string>): Promise<{ out: RawRecord[]; dead: number }> {
  const { spec, log } = env;
  const out: RawRecord[] = [];
  let dead = 0;
  const deadLetter = (m: KafkaMessage, error: Error) => { out.push(dlqRecord(spec.name, topic, partition, m, error)); dead++; };
  if (spec.handleBatch && !isolate) {
    const events: DecodedEvent[] = [];
    for (let i = 0; i < messages.length; i++) {
      const d = decoded[i];
      if (!d.ok) deadLetter(messages[i], d.error);
      else if (fresh.delete(d.event.meta.eventId)) events.push(d.event);
      else metrics.duplicates.inc({ consumer: spec.name });
    }
    const emitted: RawRecord[] = [];
    const byOffset = new Map(messages.map((m) => [m.offset, m]));
    const spans = tracingOn() ? new Map(events.map((e) => [e, consumerSpan(env, byOffset.get(e.offset)!, topic, e)])) : null;
    let res: Awaited<ReturnType<NonNullable<ConsumerSpec['handleBatch']>>>;
    try {
      res = await spec.handleBatch(events, { tx, log, forEvent: (e) => context(env, tx, e, emitted, spans?.get(e)?.ctx) });
    } catch (err) {
      spans?.forEach(({ span }) => failSpan(span, err));
      if (isTransient(err)) throw err;
      throw new NeedIsolation();
    } finally {
      spans?.forEach(({ span }) => span.end());
    }
    out.push(...emitted);
    for (const { event, error } of res?.invalid ?? []) {
      log.warn({ reason: error.message, offset: event.offset, event: event.name }, 'invalid event dead-lettered');
      deadLetter(byOffset.get(event.offset)!, error);
    }
  } else for (let i = 0; i < messages.length; i++) {
    const d = decoded[i];
    if (!d.ok) { deadLetter(messages[i], d.error); continue; }
    if (!fresh.delete(d.event.meta.eventId)) { metrics.duplicates.inc({ consumer: spec.name }); continue; }
    const emitted: RawRecord[] = [];
    const end = metrics.handlerSeconds.startTimer({ consumer: spec.name });
    const traced = tracingOn() ? consumerSpan(env, messages[i], topic, d.event) : null;
    if (isolate) await tx.query('SAVEPOINT dbb_event');
    try {
      await withContext(traced?.ctx, () => spec.handle(d.event, context(env, tx, d.event, emitted, traced?.ctx)));
      if (isolate) await tx.query('RELEASE SAVEPOINT dbb_event');
      out.push(...emitted);
    } catch (err) {
      if (traced) failSpan(traced.span, err);
      if (isTransient(err)) throw err;
      if (!isolate) throw new NeedIsolation();
      await tx.query('ROLLBACK TO SAVEPOINT dbb_event');
      const e = err instanceof Error ? err : new Error(String(err));
      if (!(err instanceof InvalidEventError)) log.error({ err, offset: messages[i].offset, event: d.event.name }, 'handler failed; event dead-lettered');
      else log.warn({ reason: e.message, offset: messages[i].offset, event: d.event.name }, 'invalid event dead-lettered');
      deadLetter(messages[i], e);
    } finally {
      end();
      traced?.span.end();
    }
  }
  return { out, dead };
}

/** applyChunk with the isolation fallback: fast path, then one event at a time on NeedIsolation. */
export async function applyChunkIsolating(env: BatchEnv, topic: string, partition: number, fence: bigint, messages: KafkaMessage[]): Promise<void> {
  try {
    await applyChunk(env, topic, partition, fence, messages, false);
  } catch (err) {
    if (err instanceof NeedIsolation) await applyChunk(env, topic, partition, fence, messages, true);
    else throw err;
  }
}

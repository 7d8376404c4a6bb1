// The contracts between the platform and the domains: decoded events, the consumer spec that
// processors and projections export, and what a handler may do inside its batch transaction.
import type pg from 'pg';
import type { Logger } from 'pino';
import type { Context } from '@opentelemetry/api';
import type { EventMap, EventName, Meta } from '../schemas/generated/index.ts';

export type { EventMap, EventName, Meta };

/** An event body without its meta: what a producer supplies. */
export type BodyOf<N extends EventName> = Omit<EventMap[N], 'meta'>;

export interface AppendOptions {
  /** The request this event belongs to; a new request gets its own eventId. */
  correlationId?: string;
  /** The event that caused this one; null for requests. */
  causationId?: string | null;
  /** Authenticated principal; null for the system. */
  actor?: string | null;
  /** Fixed id, for deterministic ids derived from an input event (replays give the same ids). */
  eventId?: string;
  /** Defaults to now; processors pass the input's occurredAt so outputs do not depend on the clock. */
  occurredAt?: number;
}

/** An event read from Kafka and decoded with its schema from the registry. */
export interface DecodedEvent<N extends EventName = EventName> {
  name: N;
  value: EventMap[N];
  meta: Meta;
  key: string;
  /** Base topic name (namespace prefix removed), comparable with TOPIC constants. */
  topic: string;
  partition: number;
  offset: string;
}

/** Narrowing helper: `if (is(event, 'GwChunkReceived')) event.value.h ...` */
export function is<N extends EventName>(event: DecodedEvent, name: N): event is DecodedEvent<N> {
  return event.name === name;
}

export interface Appender {
  append<N extends EventName>(name: N, key: string, body: BodyOf<N>, opts?: AppendOptions): Promise<Meta>;
  /** Writes the event into the outbox inside the caller's transaction (published by the relay after
   *  commit), so a route can commit a uniqueness reservation and its event together. */
  appendInTx?<N extends EventName>(tx: pg.PoolClient, name: N, key: string, body: BodyOf<N>, opts?: AppendOptions): Promise<Meta>;
  /** Appends events in order as one group, waiting once: all of them or a prefix is written, never a later
   *  one without the earlier ones (BatchingProducer.sendMany); rejects when any is not written. */
  appendMany?(events: AppendItem[]): Promise<Meta[]>;
}

/** One event of an `appendMany`. */
export type AppendItem = { [N in EventName]: { name: N; key: string; body: BodyOf<N>; opts?: AppendOptions } }[EventName];

export type EffectOutcome<T> = { status: 'DONE'; result: T } | { status: 'UNKNOWN' };

export interface HandlerContext {
  /** The batch transaction; search_path is the consumer's own schema, then public. */
  tx: pg.PoolClient;
  /** Appends an event through the outbox, in the same transaction. Defaults: correlationId and
   *  actor of the input event, causationId = input eventId, occurredAt = input occurredAt,
   *  eventId derived deterministically from the input eventId + name + key + index. */
  emit<N extends EventName>(name: N, key: string, body: BodyOf<N>, opts?: AppendOptions): Promise<Meta>;
  /** Runs a side effect at most once per effectId. The STARTED mark is committed before `fn` runs;
   *  DONE is committed on its own right after `fn` (so a retried batch gets the result back without running `fn` again). If a previous run crashed between the two, `fn` is
   *  not run again and the outcome is UNKNOWN: the handler must reconcile (check, then report). */
  runEffect<T>(effectId: string, fn: () => Promise<T>, opts?: {
    /** The effect is safe to repeat and checks its own outcome (deterministic name + temp/rename + stat):
     *  no ledger marks, `fn` runs every time the event is handled. */
    idempotent?: boolean;
  }): Promise<EffectOutcome<T>>;
  log: Logger;
  /** The event's consumer span (tracing on only): effects and emitted events are its children. */
  traceContext?: Context;
}

export interface ConsumerSpec {
  /** e.g. 'projection.gw' or 'processor.staging': group dbb.<name>, Postgres schema <name with _>. */
  name: string;
  /** Base topic names (TOPIC constants). */
  topics: string[];
  /** Directory of SQL migrations (node-pg-migrate .sql files) run in the consumer's own schema. */
  migrationsDir?: string;
  /** Projections can be rebuilt by `dbb replay`; processors (side effects) cannot. */
  kind: 'processor' | 'projection';
  /** Applies one event. Throw InvalidEventError to dead-letter it; TransientError to retry the batch. */
  handle(event: DecodedEvent, ctx: HandlerContext): Promise<void>;
  /** Optional fast path: applies a whole sub-batch (duplicates already dropped) in the batch
   *  transaction, e.g. one multi-row statement per table. Events it returns as invalid are
   *  dead-lettered (their writes must not have been made). If it throws, the runtime falls back to
   *  `handle` one event at a time, so the two must agree. */
  handleBatch?(events: DecodedEvent[], ctx: BatchContext): Promise<{ invalid?: { event: DecodedEvent; error: Error }[] } | void>;
  /** Foreign topics only (records of another system, e.g. a storage system's JSON, not our Avro): decodes
   *  a record itself instead of the registry serde. `meta.eventId` must be derived from the record (the
   *  dedupe key), never random. Throw InvalidEventError to dead-letter the record. */
  decode?(record: { key: Buffer | null; value: Buffer | null; offset: string; timestamp: string }, topic: string, partition: number): ForeignRecord;
}

/** A foreign record as `decode` gives it; the handler receives it as a DecodedEvent with this name and value. */
export interface ForeignRecord { name: string; value: unknown; meta: Meta }

export interface BatchContext {
  tx: pg.PoolClient;
  log: Logger;
  /** The per-event context (emit defaults, runEffect) for one event of the batch. */
  forEvent(event: DecodedEvent): HandlerContext;
}

/** What a domain's processor/projection factory receives. Domains parse their own config section
 *  from `env` with platform/config.ts `parseEnv`. */
export interface DomainDeps {
  config: import('./config.ts').Config;
  env: import('./config.ts').Env;
  log: Logger;
}

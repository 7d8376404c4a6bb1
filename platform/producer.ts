// The producing side: a batching idempotent Kafka producer (kafkajs has no linger.ms, so records are
// collected for `lingerMs` or `maxBatch` records and sent with one sendBatch), and the typed Appender
// that fills `meta` and encodes with the registry serde.
//
// Order: one sendBatch at a time (so at most one produce request per partition is in flight), batches
// taken from the head of one FIFO queue, and a `sendMany` is all-or-prefix: when one of its batches
// fails, the rest of it is withdrawn unsent and `sendMany` settles only once none of its records can
// still be sent. A caller that retries a failed `sendMany` from its start (the outbox relay) therefore
// never has a later record of a key written before an earlier one (docs/guarantees.md, "Outbox order").
import type { Kafka, Producer, IHeaders } from 'kafkajs';
import { ns, type Config } from './config.ts';
import type { Serde } from './registry.ts';
import { newId } from './ids.ts';
import { enqueue } from './outbox.ts';
import { replyCopy } from './reply-route.ts';
import type { Tx } from './db.ts';
import type { Appender, AppendItem, AppendOptions, BodyOf, EventName, Meta } from './types.ts';
import { traceHeaders, tracingOn, type Context } from './tracing.ts';

export interface RawRecord { topic: string; key: string | Buffer | null; value: Buffer | null; headers?: IHeaders; partition?: number }

/** The records of one sendMany: once one of them fails, the others still queued are not sent. */
interface Group { failed: boolean }
interface Pending { record: RawRecord; resolve: () => void; reject: (err: unknown) => void; group?: Group }

/** A record withdrawn unsent because an earlier record of the same sendMany failed. */
export class NotSentError extends Error {
  constructor(cause: unknown) {
    super('not sent: an earlier record of the same sendMany failed', { cause });
    this.name = 'NotSentError';
  }
}

const bytesOf = (r: RawRecord) => r.value?.length ?? 0;

/** What a stuck producer is doing (for diagnostics: no promise has a stack to dump). */
export interface ProducerState {
  queued: number;
  queuedBytes: number;
  /** the batch in flight: which step it is in and for how long */
  inFlight: { records: number; step: 'connect' | 'sendBatch'; forMs: number } | null;
  /** kafkajs producers created so far (a failed send replaces the producer) */
  generation: number;
  connected: boolean;
  lastError: string | null;
  /** the current producer's last kafkajs requests and request timeouts, oldest first */
  recentRequests: string[];
}

const RECENT_REQUESTS = 20;

/**
 * kafkajs's retry inside one send, spelled out because its defaults depend on NODE_ENV: under `test`
 * each wait is capped at 1 s, so a send gave up after ~6 s, before the controller had fenced a
 * SIGKILLed leader (broker.session.timeout.ms, 9 s by default) and elected a new one (issue 18, 3-broker
 * run 11); otherwise the waits grow to 30 s (~80 s in all). Here ~26 s in all: 100 ms doubling to 5 s,
 * 10 retries.
 */
const SEND_RETRY = { initialRetryTime: 100, maxRetryTime: 5000, factor: 0.2, multiplier: 2, retries: 10 };

export class BatchingProducer {
  private producer: Producer;
  private pending: Pending[] = [];
  private timer: NodeJS.Timeout | null = null;
  private sending: Promise<void> | null = null;
  private connected: Promise<void> | null = null;

  private pendingBytes = 0;
  private generation = 0;
  private inFlight: { records: number; step: 'connect' | 'sendBatch'; since: number } | null = null;
  private lastError: string | null = null;
  private recent: string[] = [];

  /** `replyTopic`: the (namespaced) replies topic; events a gateway waits for are copied there (platform/reply-route.ts) */
  constructor(private readonly kafka: Kafka, private readonly opts: { lingerMs?: number; maxBatch?: number; maxBatchBytes?: number; replyTopic?: string } = {}) {
    this.producer = this.newProducer();
  }

  private newProducer(): Producer {
    const producer = this.kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false, retry: SEND_RETRY });
    const generation = ++this.generation;
    this.recent = [];
    const note = (line: string) => {
      if (generation !== this.generation) return;
      this.recent.push(`${new Date().toISOString()} ${line}`);
      if (this.recent.length > RECENT_REQUESTS) this.recent.shift();
    };
    // instrumentation events; absent on the fakes of the unit tests
    if (typeof producer.on === 'function' && producer.events) {
      producer.on(producer.events.REQUEST, ({ payload: p }) => note(`${p.apiName} v${p.apiVersion} → ${p.broker} in ${p.duration} ms (queued ${p.pendingDuration} ms)`));
      producer.on(producer.events.REQUEST_TIMEOUT, ({ payload: p }) => note(`TIMEOUT ${p.apiName} → ${p.broker} after ${p.pendingDuration} ms`));
    }
    return producer;
  }

  /** A snapshot of the queue and of the batch in flight. */
  state(): ProducerState {
    return {
      queued: this.pending.length,
      queuedBytes: this.pendingBytes,
      inFlight: this.inFlight && { records: this.inFlight.records, step: this.inFlight.step, forMs: Date.now() - this.inFlight.since },
      generation: this.generation,
      connected: this.connected !== null,
      lastError: this.lastError,
      recentRequests: [...this.recent],
    };
  }

  connect(): Promise<void> {
    // a failed connect is not cached: the next send tries again
    this.connected ??= this.producer.connect().catch((err) => { this.connected = null; throw err; });
    return this.connected;
  }

  private get maxBatch() { return this.opts.maxBatch ?? 1000; }
  private get maxBatchBytes() { return this.opts.maxBatchBytes ?? 4 << 20; }

  /** Resolves once the record is acknowledged by all in-sync replicas. */
  send(record: RawRecord): Promise<void> {
    return this.queue(record);
  }

  private queue(record: RawRecord, group?: Group): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ record, resolve, reject, group });
      this.pendingBytes += bytesOf(record);
      // a batch stays well under the broker's message.max.bytes (10 MiB here) even with large records
      if (this.pending.length >= this.maxBatch || this.pendingBytes >= this.maxBatchBytes) this.kick();
      else this.timer ??= setTimeout(() => this.kick(), this.opts.lingerMs ?? 2);
    });
  }

  /**
   * Sends `records` in order, in as many batches as needed, one after the other. All or a prefix: if a
   * batch fails, the records after it are not sent (they reject with NotSentError) and the promise
   * rejects with the first error only once none of the records is queued or in flight any more, so a
   * caller that retries from the start re-sends the failed prefix before anything after it.
   */
  sendMany(records: RawRecord[]): Promise<void> {
    if (!records.length) return Promise.resolve();
    const group: Group = { failed: false };
    return Promise.allSettled(records.map((r) => this.queue(r, group))).then((results) => {
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected' && !(r.reason instanceof NotSentError))
        ?? results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
    });
  }

  private kick() {
    if (this.timer) { clearTimeout(this.timer); this.timer = null; }
    if (this.sending || this.pending.length === 0) return;
    // capped by count and bytes: what piled up during a send can exceed the broker's batch size limit
    let n = 0;
    let bytes = 0;
    while (n < this.pending.length && n < this.maxBatch && (n === 0 || bytes + bytesOf(this.pending[n].record) <= this.maxBatchBytes)) bytes += bytesOf(this.pending[n++].record);
    const batch = this.pending.splice(0, n);
    this.pendingBytes -= bytes;
    this.sending = this.flushBatch(batch).finally(() => {
      this.sending = null;
      if (this.pending.length) this.kick();
    });
  }

  private async flushBatch(batch: Pending[]) {
    const byTopic = new Map<string, { key: string | Buffer | null; value: Buffer | null; headers?: IHeaders; partition?: number }[]>();
    const add = (record: RawRecord) => {
      const list = byTopic.get(record.topic) ?? [];
      list.push({ key: record.key, value: record.value, headers: record.headers, partition: record.partition });
      byTopic.set(record.topic, list);
    };
    for (const { record } of batch) {
      add(record);
      // in the same sendBatch as the event: a failed send fails (and retries) both
      const copy = this.opts.replyTopic ? replyCopy(record, this.opts.replyTopic) : null;
      if (copy) add(copy);
    }
    try {
      this.inFlight = { records: batch.length, step: 'connect', since: Date.now() };
      await this.connect();
      this.inFlight = { records: batch.length, step: 'sendBatch', since: Date.now() };
      await this.producer.sendBatch({ acks: -1, topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })) });
      for (const p of batch) p.resolve();
    } catch (err) {
      this.lastError = `${new Date().toISOString()} ${(err as Error)?.name}: ${(err as Error)?.message}`;
      // kafkajs rolls its idempotence sequence numbers back after a failed send even when the broker
      // wrote the batch; the next batch would reuse them and be acknowledged as a duplicate without
      // being written. A fresh producer (new producer id) cannot collide with the old sequence.
      const old = this.producer;
      this.producer = this.newProducer();
      this.connected = null;
      old.disconnect().catch(() => {});
      for (const p of batch) {
        if (p.group) p.group.failed = true;
        p.reject(err);
      }
      // the rest of a failed sendMany is withdrawn unsent: sent now (possibly by the fresh producer, and
      // before the caller retries the failed part) it would put later records of a key before earlier ones
      const keep: Pending[] = [];
      for (const p of this.pending) {
        if (p.group?.failed) { this.pendingBytes -= bytesOf(p.record); p.reject(new NotSentError(err)); } else keep.push(p);
      }
      this.pending = keep;
    } finally {
      this.inFlight = null;
    }
  }

  async flush(): Promise<void> {
    while (this.pending.length || this.sending) {
      this.kick();
      await this.sending;
    }
  }

  async disconnect(): Promise<void> {
    await this.flush().catch(() => {});
    if (this.connected) await this.producer.disconnect();
  }
}

/** Headers on every event record, so readers can route or skip a record without decoding it; with
 *  tracing on, also the traceparent of `trace` (default: the active context), e.g. the gateway request. */
export function eventHeaders(name: string, meta: Meta, trace?: Context): IHeaders {
  const h: IHeaders = { 'dbb-event': name, 'dbb-correlation-id': meta.correlationId };
  return tracingOn() ? Object.assign(h, traceHeaders(trace)) : h;
}

export function makeMeta(source: string, opts: AppendOptions = {}): Meta {
  const eventId = opts.eventId ?? newId();
  return {
    eventId,
    occurredAt: opts.occurredAt ?? Date.now(),
    correlationId: opts.correlationId ?? eventId,
    causationId: opts.causationId ?? null,
    actor: opts.actor ?? null,
    source,
  };
}

/** The typed way to put an event on its topic, outside a consumer transaction (gateway, edge producers);
 *  `appendInTx` puts it in the outbox of the caller's transaction instead. */
export function createAppender(deps: { producer: BatchingProducer; serde: Serde; config: Pick<Config, 'namespace'>; source: string }): Appender {
  const recordOf = <N extends EventName>(name: N, key: string, body: BodyOf<N>, opts?: AppendOptions): { record: RawRecord; meta: Meta } => {
    const entry = deps.serde.catalog.get(name);
    const meta = makeMeta(deps.source, opts);
    const value = deps.serde.encode(name, { meta, ...body });
    return { record: { topic: ns(deps.config, entry.topic), key, value, headers: eventHeaders(entry.name, meta) }, meta };
  };
  return {
    async append<N extends EventName>(name: N, key: string, body: BodyOf<N>, opts?: AppendOptions): Promise<Meta> {
      const { record, meta } = recordOf(name, key, body, opts);
      await deps.producer.send(record);
      return meta;
    },
    async appendMany(events: AppendItem[]): Promise<Meta[]> {
      const built = events.map((e) => recordOf(e.name, e.key, e.body, e.opts));
      await deps.producer.sendMany(built.map((b) => b.record));
      return built.map((b) => b.meta);
    },
    async appendInTx<N extends EventName>(tx: Tx, name: N, key: string, body: BodyOf<N>, opts?: AppendOptions): Promise<Meta> {
      const entry = deps.serde.catalog.get(name);
      const meta = makeMeta(deps.source, opts);
      const value = deps.serde.encode(name, { meta, ...body });
      await enqueue(tx, [{ topic: ns(deps.config, entry.topic), key, value, headers: eventHeaders(entry.name, meta) }]);
      return meta;
    },
  };
}

// The producing side: a batching idempotent Kafka producer (kafkajs has no linger.ms, so records are
// collected for `lingerMs` or `maxBatch` records and sent with one sendBatch), and the typed Appender
// that fills `meta` and encodes with the registry serde.
import type { Kafka, Producer, IHeaders } from 'kafkajs';
import { ns, type Config } from './config.ts';
import type { Serde } from './registry.ts';
import { newId } from './ids.ts';
import type { Appender, AppendOptions, BodyOf, EventName, Meta } from './types.ts';

export interface RawRecord { topic: string; key: string | null; value: Buffer | null; headers?: IHeaders }

interface Pending { record: RawRecord; resolve: () => void; reject: (err: unknown) => void }

export class BatchingProducer {
  private producer: Producer;
  private pending: Pending[] = [];
  private timer: NodeJS.Timeout | null = null;
  private sending: Promise<void> | null = null;
  private connected: Promise<void> | null = null;

  private pendingBytes = 0;

  constructor(private readonly kafka: Kafka, private readonly opts: { lingerMs?: number; maxBatch?: number; maxBatchBytes?: number } = {}) {
    this.producer = this.newProducer();
  }

  private newProducer(): Producer {
    return this.kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false });
  }

  connect(): Promise<void> {
    // a failed connect is not cached: the next send tries again
    this.connected ??= this.producer.connect().catch((err) => { this.connected = null; throw err; });
    return this.connected;
  }

  /** Resolves once the record is acknowledged by all in-sync replicas. */
  send(record: RawRecord): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ record, resolve, reject });
      this.pendingBytes += record.value?.length ?? 0;
      // a batch stays well under the broker's message.max.bytes (10 MiB here) even with large records
      if (this.pending.length >= (this.opts.maxBatch ?? 1000) || this.pendingBytes >= (this.opts.maxBatchBytes ?? 4 << 20)) this.kick();
      else this.timer ??= setTimeout(() => this.kick(), this.opts.lingerMs ?? 2);
    });
  }

  sendMany(records: RawRecord[]): Promise<void> {
    return Promise.all(records.map((r) => this.send(r))).then(() => undefined);
  }

  private kick() {
    if (this.timer) { clearTimeout(this.timer); this.timer = null; }
    if (this.sending || this.pending.length === 0) return;
    const batch = this.pending.splice(0, this.opts.maxBatch ?? 1000); // capped: what piled up during a send can exceed the broker's batch size limit
    this.sending = this.flushBatch(batch).finally(() => {
      this.sending = null;
      if (this.pending.length) this.kick();
    });
  }

  private async flushBatch(batch: Pending[]) {
    const byTopic = new Map<string, { key: string | null; value: Buffer | null; headers?: IHeaders }[]>();
    for (const { record } of batch) {
      const list = byTopic.get(record.topic) ?? [];
      list.push({ key: record.key, value: record.value, headers: record.headers });
      byTopic.set(record.topic, list);
    }
    try {
      await this.connect();
      await this.producer.sendBatch({ acks: -1, topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })) });
      for (const p of batch) p.resolve();
    } catch (err) {
      // kafkajs rolls its idempotence sequence numbers back after a failed send even when the broker
      // wrote the batch; the next batch would reuse them and be acknowledged as a duplicate without
      // being written. A fresh producer (new producer id) cannot collide with the old sequence.
      const old = this.producer;
      this.producer = this.newProducer();
      this.connected = null;
      old.disconnect().catch(() => {});
      for (const p of batch) p.reject(err);
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

/** Headers on every event record, so readers can route or skip a record without decoding it. */
export const eventHeaders = (name: string, meta: Meta): IHeaders => ({ 'dbb-event': name, 'dbb-correlation-id': meta.correlationId });

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

/** The typed way to put an event on its topic, outside a consumer transaction (gateway, edge producers). */
export function createAppender(deps: { producer: BatchingProducer; serde: Serde; config: Pick<Config, 'namespace'>; source: string }): Appender {
  return {
    async append<N extends EventName>(name: N, key: string, body: BodyOf<N>, opts?: AppendOptions): Promise<Meta> {
      const entry = deps.serde.catalog.get(name);
      const meta = makeMeta(deps.source, opts);
      const value = deps.serde.encode(name, { meta, ...body });
      await deps.producer.send({ topic: ns(deps.config, entry.topic), key, value, headers: eventHeaders(entry.name, meta) });
      return meta;
    },
  };
}

// Request/reply for synchronous routes: the gateway appends a request event and awaits the outcome
// event with the same correlationId, seen by a per-instance listener that reads every catalog topic
// from the end. The same listener feeds live subscriptions (SSE).
import type { Kafka, Consumer } from 'kafkajs';
import type { Logger } from 'pino';
import { randomUUID } from 'node:crypto';
import { ns, type Config } from './config.ts';
import { baseTopic } from './kafka.ts';
import type { Serde } from './registry.ts';
import { ReplyTimeoutError } from './errors.ts';
import { markSpan } from './tracing.ts';
import type { Appender, AppendOptions, BodyOf, DecodedEvent, EventName, Meta } from './types.ts';

/** What the gateway's routes use to wait for outcomes and to follow live events. */
export interface RequestReply {
  /** Appends the request and resolves with the first event named in `replies` that carries the same
   *  correlationId. Rejects with ReplyTimeoutError (→ 504) after `timeoutMs`. */
  request<N extends EventName>(name: N, key: string, body: BodyOf<N>, opts: AppendOptions & { replies: EventName[]; timeoutMs?: number }): Promise<DecodedEvent>;
  /** Live events (for SSE): calls `fn` for every event on `topics` until the returned function is called. */
  subscribe(topics: string[], fn: (event: DecodedEvent) => void): () => void;
}

interface Waiter { names: Set<string>; resolve: (e: DecodedEvent) => void }

export interface ReplyListener extends RequestReply { stop(): Promise<void> }

export async function startReplyListener(deps: { config: Config; kafka: Kafka; serde: Serde; appender: Appender; log: Logger }): Promise<ReplyListener> {
  const { config, serde } = deps;
  const log = deps.log.child({ component: 'reply-listener' });
  const waiters = new Map<string, Waiter[]>();
  const subscribers = new Set<{ topics: Set<string>; fn: (e: DecodedEvent) => void }>();
  // topics that carry only requests (names ending in Requested/Received, e.g. the GW chunk stream) hold
  // no replies: not reading them spares the gateway a second fetch of every large request
  const topics = serde.catalog.topics().filter((t) => serde.catalog.eventsOn(t).some((e) => !/(Requested|Received)$/.test(e.name)));

  const consumer: Consumer = deps.kafka.consumer({ groupId: ns(config, `dbb.gateway.replies.${randomUUID()}`), maxWaitTimeInMs: 50, sessionTimeout: 30_000 });
  await consumer.connect();
  await consumer.subscribe({ topics: topics.map((t) => ns(config, t)), fromBeginning: false });
  // ready once the group is joined and a first fetch has resolved the starting (latest) offsets
  const joined = new Promise<void>((resolve) => {
    consumer.on(consumer.events.GROUP_JOIN, () => {
      const off = consumer.on(consumer.events.FETCH, () => { off(); resolve(); });
    });
  });
  await consumer.run({
    autoCommit: true,
    partitionsConsumedConcurrently: 4,
    eachMessage: async ({ topic, partition, message }) => {
      if (!waiters.size && !subscribers.size) return;
      // records carry their correlation id in a header: skip (large) records nobody waits for without decoding
      const cid = message.headers?.['dbb-correlation-id']?.toString();
      const base = baseTopic(config, topic);
      if (cid !== undefined && !waiters.has(cid) && ![...subscribers].some((s) => s.topics.has(base))) return;
      let event: DecodedEvent;
      try {
        const d = await serde.decode(message.value);
        const value = d.value as { meta: Meta };
        event = { name: d.entry.name as EventName, value: value as any, meta: value.meta, key: message.key?.toString() ?? '', topic: baseTopic(config, topic), partition, offset: message.offset };
      } catch {
        return; // consumers dead-letter it; the gateway has nothing to reply with
      }
      const list = waiters.get(event.meta.correlationId);
      if (list) {
        for (const w of [...list]) {
          if (!w.names.has(event.name)) continue;
          markSpan(`reply ${event.name}`, message.headers, { 'dbb.event': event.name, 'dbb.correlation_id': event.meta.correlationId, 'messaging.destination.name': topic });
          w.resolve(event);
        }
      }
      for (const s of subscribers) {
        if (s.topics.has(event.topic)) {
          try { s.fn(event); } catch (err) { log.warn({ err }, 'subscriber failed'); }
        }
      }
    },
  });
  await joined;

  return {
    async request<N extends EventName>(name: N, key: string, body: BodyOf<N>, opts: AppendOptions & { replies: EventName[]; timeoutMs?: number }) {
      const correlationId = opts.correlationId ?? randomUUID();
      const timeoutMs = opts.timeoutMs ?? config.replyTimeoutMs;
      let timer: NodeJS.Timeout | undefined;
      let waiter!: Waiter;
      const reply = new Promise<DecodedEvent>((resolve, reject) => {
        waiter = { names: new Set(opts.replies), resolve };
        waiters.set(correlationId, [...(waiters.get(correlationId) ?? []), waiter]);
        timer = setTimeout(() => reject(new ReplyTimeoutError(correlationId, timeoutMs)), timeoutMs);
      });
      reply.catch(() => {}); // awaited below; a timeout that fires while append is still running must not be an unhandled rejection
      try {
        await deps.appender.append(name, key, body, { ...opts, correlationId, eventId: opts.eventId ?? correlationId });
        return await reply;
      } finally {
        clearTimeout(timer);
        const rest = (waiters.get(correlationId) ?? []).filter((w) => w !== waiter);
        if (rest.length) waiters.set(correlationId, rest);
        else waiters.delete(correlationId);
      }
    },
    subscribe(ts: string[], fn: (e: DecodedEvent) => void) {
      const s = { topics: new Set(ts), fn };
      subscribers.add(s);
      return () => { subscribers.delete(s); };
    },
    async stop() {
      await consumer.disconnect();
    },
  };
}

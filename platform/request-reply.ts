// Request/reply for synchronous routes: the gateway appends a request event with a correlation id
// that names this instance's partition of the replies topic (platform/reply-route.ts) and awaits the
// outcome event with that id, read from that one partition: no gateway reads the others' replies.
// Live subscriptions (SSE), and a request whose caller chose an unrouted correlation id, use a second
// consumer that reads the domain topics from the end; it starts on first use. Both consumers commit
// no offsets, and stop() deletes their groups: restarts leave no consumer groups behind.
import { AssignerProtocol, type Kafka, type Consumer, type KafkaMessage, type PartitionAssigner } from 'kafkajs';
import type { Logger } from 'pino';
import { randomInt, randomUUID } from 'node:crypto';
import { ns, type Config } from './config.ts';
import { baseTopic } from './kafka.ts';
import type { Serde } from './registry.ts';
import { ReplyTimeoutError } from './errors.ts';
import { markSpan } from './tracing.ts';
import { REPLY_PARTITIONS, REPLY_TOPIC, isRequestEvent, replyPartitionOf, routedCorrelationId } from './reply-route.ts';
import type { Appender, AppendOptions, BodyOf, DecodedEvent, EventName, Meta } from './types.ts';

/** What the gateway's routes use to wait for outcomes and to follow live events. */
export interface RequestReply {
  /** Appends the request and resolves with the first event named in `replies` that carries the same
   *  correlationId. Rejects with ReplyTimeoutError (→ 504) after `timeoutMs`. Without a correlationId
   *  in `opts`, one routed to this instance is made (see `correlationId`). */
  request<N extends EventName>(name: N, key: string, body: BodyOf<N>, opts: AppendOptions & { replies: EventName[]; timeoutMs?: number }): Promise<DecodedEvent>;
  /** A new correlation id whose replies reach this instance (a UUID; usable as a request id). */
  correlationId(): string;
  /** Live events (for SSE): calls `fn` for every event on `topics` until the returned function is
   *  called; events are seen from when `ready` resolves. */
  subscribe(topics: string[], fn: (event: DecodedEvent) => void): Unsubscribe;
}

export type Unsubscribe = (() => void) & { ready: Promise<void> };

interface Waiter { names: Set<string>; resolve: (e: DecodedEvent) => void }

export interface ReplyListener extends RequestReply {
  /** The replies-topic partition this instance reads, and its consumer group ids. */
  readonly replyPartition: number;
  readonly groups: string[];
  stop(): Promise<void>;
}

/** Assigns the one partition this instance chose to itself (each instance is alone in its group). */
function onePartitionAssigner(topic: string, partition: number): PartitionAssigner {
  return () => ({
    name: 'DbbReplyPartition',
    version: 1,
    async assign({ members }) {
      return members.map((m) => ({
        memberId: m.memberId,
        memberAssignment: AssignerProtocol.MemberAssignment.encode({ version: 1, assignment: { [topic]: [partition] }, userData: Buffer.alloc(0) }),
      }));
    },
    protocol({ topics }) {
      return { name: 'DbbReplyPartition', metadata: AssignerProtocol.MemberMetadata.encode({ version: 1, topics, userData: Buffer.alloc(0) }) };
    },
  });
}

export async function startReplyListener(deps: { config: Config; kafka: Kafka; serde: Serde; appender: Appender; log: Logger; replyPartition?: number }): Promise<ReplyListener> {
  const { config, serde } = deps;
  const log = deps.log.child({ component: 'reply-listener' });
  const waiters = new Map<string, Waiter[]>();
  const subscribers = new Set<{ topics: Set<string>; fn: (e: DecodedEvent) => void }>();
  const instance = randomUUID();
  const replyPartition = deps.replyPartition ?? randomInt(REPLY_PARTITIONS);
  const replyTopic = ns(config, REPLY_TOPIC);
  const groups: string[] = [];

  async function decode(topic: string, partition: number, message: KafkaMessage): Promise<DecodedEvent | null> {
    try {
      const d = await serde.decode(message.value);
      const value = d.value as { meta: Meta };
      return { name: d.entry.name as EventName, value: value as any, meta: value.meta, key: message.key?.toString() ?? '', topic: baseTopic(config, topic), partition, offset: message.offset };
    } catch {
      return null; // consumers dead-letter it; the gateway has nothing to reply with
    }
  }

  function resolveWaiters(event: DecodedEvent, topic: string, message: KafkaMessage) {
    for (const w of [...(waiters.get(event.meta.correlationId) ?? [])]) {
      if (!w.names.has(event.name)) continue;
      markSpan(`reply ${event.name}`, message.headers, { 'dbb.event': event.name, 'dbb.correlation_id': event.meta.correlationId, 'messaging.destination.name': topic });
      w.resolve(event);
    }
  }

  /** A consumer alone in its own group, reading `topics` from the end; ready after the first fetch.
   *  A rejoin (e.g. the coordinator moved to another broker) resumes after the last record seen,
   *  since there are no committed offsets to resume from. */
  async function startConsumer(group: string, topics: string[], each: (topic: string, partition: number, message: KafkaMessage) => Promise<void>, assigner?: PartitionAssigner): Promise<Consumer> {
    const consumer = deps.kafka.consumer({ groupId: group, maxWaitTimeInMs: 50, sessionTimeout: 30_000, ...(assigner ? { partitionAssigners: [assigner] } : {}) });
    groups.push(group);
    const seen = new Map<string, string>(); // topic:partition → next offset
    let joins = 0;
    const joined = new Promise<void>((resolve) => {
      consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
        if (joins++ > 0) {
          for (const [topic, parts] of Object.entries(payload.memberAssignment)) {
            for (const p of parts) {
              const next = seen.get(`${topic}:${p}`);
              if (next !== undefined) consumer.seek({ topic, partition: p, offset: next });
            }
          }
        }
        const off = consumer.on(consumer.events.FETCH, () => { off(); resolve(); });
      });
    });
    await consumer.connect();
    await consumer.subscribe({ topics, fromBeginning: false });
    await consumer.run({
      autoCommit: false,
      partitionsConsumedConcurrently: 4,
      eachMessage: async ({ topic, partition, message }) => {
        seen.set(`${topic}:${partition}`, String(BigInt(message.offset) + 1n));
        await each(topic, partition, message);
      },
    });
    await joined;
    return consumer;
  }

  const replies = await startConsumer(ns(config, `dbb.gateway.replies.${instance}`), [replyTopic], async (topic, partition, message) => {
    const cid = message.headers?.['dbb-correlation-id']?.toString();
    if (cid === undefined || !waiters.has(cid)) return; // another instance's reply sharing the partition
    const event = await decode(topic, partition, message);
    if (event) resolveWaiters(event, topic, message);
  }, onePartitionAssigner(replyTopic, replyPartition));

  // topics that carry only requests (e.g. the GW chunk stream) hold no replies: the live consumer skips them
  const domainTopics = serde.catalog.topics().filter((t) => serde.catalog.eventsOn(t).some((e) => !isRequestEvent(e.name)));
  let live: Promise<Consumer> | null = null;
  const startLive = () => {
    live ??= startConsumer(ns(config, `dbb.gateway.live.${instance}`), domainTopics.map((t) => ns(config, t)), async (topic, partition, message) => {
      if (!waiters.size && !subscribers.size) return;
      // records carry their correlation id in a header: skip (large) records nobody waits for without decoding
      const cid = message.headers?.['dbb-correlation-id']?.toString();
      const base = baseTopic(config, topic);
      if (cid !== undefined && !waiters.has(cid) && ![...subscribers].some((s) => s.topics.has(base))) return;
      const event = await decode(topic, partition, message);
      if (!event) return;
      resolveWaiters(event, topic, message);
      for (const s of subscribers) {
        if (s.topics.has(event.topic)) {
          try { s.fn(event); } catch (err) { log.warn({ err }, 'subscriber failed'); }
        }
      }
    }).catch((err) => { live = null; throw err; });
    return live;
  };

  return {
    replyPartition,
    groups,
    correlationId: () => routedCorrelationId(replyPartition),
    async request<N extends EventName>(name: N, key: string, body: BodyOf<N>, opts: AppendOptions & { replies: EventName[]; timeoutMs?: number }) {
      const correlationId = opts.correlationId ?? routedCorrelationId(replyPartition);
      // a correlation id chosen elsewhere is not routed here: its reply is found on the domain topics
      if (replyPartitionOf(correlationId) !== replyPartition) await startLive();
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
      const ready = startLive().then(() => {});
      ready.catch((err) => log.warn({ err }, 'live event consumer did not start'));
      return Object.assign(() => { subscribers.delete(s); }, { ready });
    },
    async stop() {
      const consumers = [replies, ...(live ? [await live.catch(() => null)] : [])].filter((c): c is Consumer => !!c);
      await Promise.all(consumers.map((c) => c.disconnect().catch(() => {})));
      // left empty and without offsets; deleted now rather than at the coordinator's next cleanup
      const admin = deps.kafka.admin();
      try {
        await admin.connect();
        await admin.deleteGroups(groups);
      } catch (err) {
        log.debug({ err }, 'reply groups not deleted (the coordinator removes empty groups without offsets)');
      } finally {
        await admin.disconnect().catch(() => {});
      }
    },
  };
}

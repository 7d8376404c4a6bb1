// Reply routing: each gateway instance reads one partition of the replies topic instead of every
// domain topic. A gateway's request carries a correlation id naming that partition (a UUIDv8: version
// nibble 8, the partition in the 12 bits after it); whoever publishes an event of that correlation (the
// appender, the outbox relay) also writes a copy of it to that partition, unless it is itself a request.
// Random (v4) and derived (v5) ids name no partition and are never copied.
import { randomBytes } from 'node:crypto';
import type { IHeaders } from 'kafkajs';

export const REPLY_TOPIC = 'dbb.gateway.replies';
/** Partitions of the replies topic: gateways beyond this many share partitions (each still skips others' replies undecoded). */
export const REPLY_PARTITIONS = 32;
/** Replies are read within a request timeout; an hour of them is plenty. */
export const REPLY_RETENTION_MS = 3_600_000;

const hex = (b: Buffer) => b.toString('hex');

/** A fresh correlation id whose replies go to `partition` of the replies topic. */
export function routedCorrelationId(partition: number): string {
  if (!Number.isInteger(partition) || partition < 0 || partition >= REPLY_PARTITIONS) throw new RangeError(`reply partition ${partition} is not in 0..${REPLY_PARTITIONS - 1}`);
  const b = randomBytes(16);
  b[6] = 0x80 | (partition >> 8);
  b[7] = partition & 0xff;
  b[8] = (b[8] & 0x3f) | 0x80;
  const x = hex(b);
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

/** The reply partition a correlation id names, or null (not a routed id). */
export function replyPartitionOf(correlationId: string | undefined): number | null {
  if (!correlationId || correlationId.length !== 36 || correlationId[14] !== '8' || correlationId[8] !== '-') return null;
  const p = parseInt(correlationId.slice(15, 18), 16);
  return Number.isInteger(p) && p < REPLY_PARTITIONS ? p : null;
}

/** Request events (the gateway's own appends) are not replies. */
export const isRequestEvent = (name: string) => /(Requested|Received)$/.test(name);

interface Record_ { topic: string; key: string | Buffer | null; value: Buffer | null; headers?: IHeaders }

/** The copy of `record` for the gateway that waits for it, or null when nobody does. */
export function replyCopy<R extends Record_>(record: R, replyTopic: string): (R & { partition: number }) | null {
  const h = record.headers ?? {};
  const name = h['dbb-event']?.toString();
  const partition = replyPartitionOf(h['dbb-correlation-id']?.toString());
  if (partition === null || !name || isRequestEvent(name) || record.topic === replyTopic) return null;
  return { ...record, topic: replyTopic, partition };
}

// The outbox order window of issue 14, deterministically: the real relay (startOutboxRelay) on a real
// Postgres (a private database) publishes through a BatchingProducer whose kafkajs client is a fake
// in-memory log, and one sendBatch is made to fail. A relay drain bigger than one producer batch is
// split over several sendBatch calls; before the fix, the failed first batch made the drain roll back
// while the later batches of the same drain were still queued, and they went out (through the fresh
// producer) before the relay re-read and re-sent the failed rows: later rows of a key published before
// earlier ones. The full crash torture hit this once in 100,000 outcomes during a broker kill.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { Kafka } from 'kafkajs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createLogger } from '../../platform/log.ts';
import { createPool, migratePlatform, withTx, type Db } from '../../platform/db.ts';
import { enqueue, startOutboxRelay } from '../../platform/outbox.ts';
import { BatchingProducer, type RawRecord } from '../../platform/producer.ts';
import { sleep, until } from './support.ts';

const BASE = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const NAME = `dbb_outbox_order_${randomBytes(4).toString('hex')}`;
const admin = () => { const u = new URL(BASE); u.pathname = '/postgres'; return new pg.Client({ connectionString: u.toString() }); };
let url = '';
let db: Db;

beforeAll(async () => {
  const c = admin();
  await c.connect();
  try { await c.query(`CREATE DATABASE "${NAME}"`); } finally { await c.end(); }
  const u = new URL(BASE);
  u.pathname = `/${NAME}`;
  url = u.toString();
  await migratePlatform(url);
  db = createPool(url, 4);
}, 60_000);

afterAll(async () => {
  await db?.end().catch(() => {});
  const c = admin();
  await c.connect();
  try { await c.query(`DROP DATABASE IF EXISTS "${NAME}" WITH (FORCE)`); } finally { await c.end(); }
});

/** An in-memory "broker": one log per key (one partition per key is enough for order); sendBatch calls in `failAt` fail. */
function fakeKafka(failAt: Set<number>) {
  const log: { key: string; seq: number; call: number }[] = [];
  let calls = 0;
  const kafka = {
    producer: () => ({
      connect: async () => {},
      disconnect: async () => {},
      sendBatch: async ({ topicMessages }: { topicMessages: { messages: { key: string; value: Buffer }[] }[] }) => {
        const n = ++calls;
        await sleep(5);
        if (failAt.has(n)) throw Object.assign(new Error(`injected: sendBatch ${n} failed (broker SIGKILLed)`), { name: 'KafkaJSConnectionError' });
        for (const t of topicMessages) for (const m of t.messages) log.push({ key: m.key, seq: Number(m.value.toString()), call: n });
        return [];
      },
    }),
  } as unknown as Kafka;
  return { kafka, log, calls: () => calls };
}

/** Per key, the seqs in first-publication order that came after a later seq of the key. */
function reordered(log: { key: string; seq: number }[]): string[] {
  const seen = new Set<string>();
  const max = new Map<string, number>();
  const bad: string[] = [];
  for (const { key, seq } of log) {
    if (seen.has(`${key}/${seq}`)) continue; // a republished duplicate: consumers drop it by eventId
    seen.add(`${key}/${seq}`);
    const m = max.get(key) ?? -1;
    if (seq < m) bad.push(`${key}: seq ${seq} first published after seq ${m}`);
    else max.set(key, seq);
  }
  return bad;
}

it('a relay drain split over several producer batches, the first batch fails: no later row of a key is published before the retried earlier rows', async () => {
  const KEYS = 4;
  const PER_KEY = 6;
  // one transaction, rows interleaved by key the way a consumer batch writes them: k0:0 k1:0 k2:0 k3:0 k0:1 …
  const records: RawRecord[] = [];
  for (let s = 0; s < PER_KEY; s++) for (let k = 0; k < KEYS; k++) records.push({ topic: 'dbb.torture.outcomes', key: `k${k}`, value: Buffer.from(String(s)) });
  await withTx(db, (tx) => enqueue(tx, records));

  const fake = fakeKafka(new Set([1])); // the first produce request of the first drain fails
  const producer = new BatchingProducer(fake.kafka, { maxBatch: 5 }); // a 24-row drain = 5 batches
  const log = createLogger({ level: 'silent', name: 'outbox-order' });
  const relay = startOutboxRelay({ databaseUrl: url, db, producer, log, batchSize: 100, idleMs: 50 });
  try {
    await until('outbox drained', async () => Number((await db.query('SELECT count(*)::int AS n FROM platform.outbox')).rows[0].n) === 0, 30_000, 50);
  } finally {
    await relay.stop();
  }
  const bad = reordered(fake.log);
  if (bad.length) console.log(`reordered by the relay: ${bad.join('; ')}\npublished: ${fake.log.map((w) => `${w.key}:${w.seq}@${w.call}`).join(' ')}`);
  expect(bad).toEqual([]);
  // everything published, and the rows of the failed drain exactly once after the failure (nothing of it went out before the retry)
  expect(new Set(fake.log.map((w) => `${w.key}/${w.seq}`)).size).toBe(KEYS * PER_KEY);
  expect(fake.log.map((w) => `${w.key}:${w.seq}`)).toEqual(records.map((r) => `${r.key}:${r.value}`));
}, 60_000);

it('the history checker names the key, the seqs and the offsets of a reordering', async () => {
  const { checkHistory, describeReordering } = await import('./support.ts');
  const produced = [0, 1, 2].map((seq) => ({ eventId: `e${seq}`, key: 'k7', seq }));
  const applied = [
    { id: 'e0', key: 'k7', seq: 0, applied: 1, apply_no: 1, partition: 3, offset: '100' },
    { id: 'e2', key: 'k7', seq: 2, applied: 1, apply_no: 2, partition: 3, offset: '101' },
    { id: 'e1', key: 'k7', seq: 1, applied: 1, apply_no: 3, partition: 3, offset: '102' },
  ];
  const h = checkHistory('outcomes', produced, applied);
  expect(h).toMatchObject({ lost: 0, duplicated: 0, reordered: 1, unexpected: 0 });
  expect(h.reorderings.map(describeReordering)).toEqual(['k7: seq 1 at p3@102 (apply #3) applied after seq 2 at p3@101 (apply #2)']);
});

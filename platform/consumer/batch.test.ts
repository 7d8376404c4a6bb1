// One sub-batch transaction (the fence, dedupe, DLQ and poison isolation wired together) against a
// real Postgres, with a JSON fake of the registry serde and kafkajs messages built in memory.
import { randomUUID } from 'node:crypto';
import pino from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Config } from '../config.ts';
import type { Db } from '../db.ts';
import { InvalidEventError, TransientError } from '../errors.ts';
import type { Serde } from '../registry.ts';
import type { ConsumerSpec, DecodedEvent } from '../types.ts';
import { applyChunk, applyChunkIsolating, NeedIsolation, type BatchEnv } from './batch.ts';
import { FenceLost, readStored } from './offsets.ts';
import { message, throwawayDb, type ThrowawayDb } from './testing.ts';

const TOPIC = 'u.dbb.in';
let t: ThrowawayDb;
beforeAll(async () => {
  t = await throwawayDb('batch');
  await t.db.query(`CREATE TABLE ${t.q}.applied (event_id uuid PRIMARY KEY, n int)`);
});
afterAll(async () => { await t?.drop(); });
beforeEach(async () => {
  await t.db.query(`TRUNCATE ${t.q}.applied, ${t.q}.processed_events, ${t.q}.consumer_offsets, platform.outbox`);
  await readStored(t.db, { q: t.q, group: 'g' }, TOPIC, 0);
});

/** Registry serde fake: JSON bodies `{ name, meta, n, poison? }`; anything else is an invalid record. */
const serde = {
  catalog: { get: (name: string) => ({ name, topic: 'dbb.out' }) },
  async decode(buf: Buffer | null) {
    try { const v = JSON.parse(buf!.toString()); return { entry: { name: v.name }, value: v }; } catch (err) { throw new InvalidEventError('undecodable', err); }
  },
  encode: (_name: string, value: unknown) => Buffer.from(JSON.stringify(value)),
} as unknown as Serde;

const event = (offset: number, n: number, o: { id?: string; poison?: boolean } = {}) =>
  message(offset, Buffer.from(JSON.stringify({ name: 'Thing', meta: { eventId: o.id ?? randomUUID(), occurredAt: 1, correlationId: randomUUID(), causationId: null, actor: null, source: 't' }, n, poison: o.poison })), { key: `k${n}` });

function env(spec: Partial<ConsumerSpec> = {}): BatchEnv {
  const s: ConsumerSpec = {
    name: 'unit.batch', topics: ['dbb.in'], kind: 'projection',
    async handle(e: DecodedEvent, ctx) {
      const v = e.value as unknown as { n: number; poison?: boolean };
      await ctx.tx.query('INSERT INTO applied VALUES ($1, $2)', [e.meta.eventId, v.n]);
      if (v.poison) throw new InvalidEventError(`poison ${v.n}`); // after a write, which must not commit
      await ctx.emit('Thing' as any, e.key, { n: v.n } as any);
    },
    ...spec,
  };
  return { spec: s, config: { namespace: 'u.' } as Config, db: t.db, marks: t.db, serde, log: pino({ level: 'silent' }), schema: t.schema, offsets: { q: t.q, group: 'g' } };
}

const appliedNs = async () => (await t.db.query(`SELECT n FROM ${t.q}.applied ORDER BY n`)).rows.map((r) => r.n);
const outbox = async () => (await t.db.query("SELECT topic, convert_from(key, 'UTF8') AS key, headers FROM platform.outbox ORDER BY id")).rows as { topic: string; key: string; headers: Record<string, string> }[];
const stored = () => readStored(t.db, { q: t.q, group: 'g' }, TOPIC, 0);

describe('one sub-batch', () => {
  it('given the stored offset is the batch start, when the chunk applies, then writes, outputs and the next offset commit together', async () => {
    await applyChunk(env(), TOPIC, 0, 0n, [event(0, 1), event(1, 2)], false);
    expect(await appliedNs()).toEqual([1, 2]);
    expect((await outbox()).map((r) => [r.topic, r.key])).toEqual([['u.dbb.out', 'k1'], ['u.dbb.out', 'k2']]);
    expect(await stored()).toBe(2n);
  });

  it('given another instance already moved the stored offset, when a stale chunk applies, then FenceLost and none of its writes, outputs or processed ids commit', async () => {
    await applyChunk(env(), TOPIC, 0, 0n, [event(0, 1)], false);
    const id = randomUUID();
    await expect(applyChunk(env(), TOPIC, 0, 0n, [event(0, 9, { id })], false)).rejects.toBeInstanceOf(FenceLost);
    expect(await appliedNs()).toEqual([1]);
    expect(await outbox()).toHaveLength(1);
    expect(await stored()).toBe(1n);
    expect((await t.db.query(`SELECT 1 FROM ${t.q}.processed_events WHERE event_id = $1`, [id])).rowCount).toBe(0);
  });

  it('given an event already processed (relay republished it), when it comes again, then the handler does not see it and the offset still moves', async () => {
    const id = randomUUID();
    const handle = vi.fn(env().spec.handle);
    await applyChunk(env({ handle }), TOPIC, 0, 0n, [event(0, 1, { id })], false);
    await applyChunk(env({ handle }), TOPIC, 0, 1n, [event(1, 1, { id }), event(2, 2)], false);
    expect(handle).toHaveBeenCalledTimes(2);
    expect(await appliedNs()).toEqual([1, 2]);
    expect(await stored()).toBe(3n);
  });

  it('given an undecodable record, when the chunk applies, then it goes to <topic>.dlq with its origin and the others apply', async () => {
    await applyChunk(env(), TOPIC, 0, 0n, [event(0, 1), message(1, Buffer.from('not json'), { key: 'bad' }), event(2, 3)], false);
    expect(await appliedNs()).toEqual([1, 3]);
    const dlq = (await outbox()).filter((r) => r.topic === `${TOPIC}.dlq`);
    expect(dlq).toHaveLength(1);
    expect(dlq[0].key).toBe('bad');
    expect(dlq[0].headers).toMatchObject({ 'dbb-original-offset': 's:1', 'dbb-error-code': 's:DBB_EVENT_INVALID', 'dbb-consumer': 's:unit.batch' });
    expect(await stored()).toBe(3n);
  });

  it('given a poison event in the handleBatch fast path, when the chunk applies, then the fast path rolls back and one event at a time dead-letters only the poison', async () => {
    const handleBatch = vi.fn(async (events: DecodedEvent[], ctx: any) => {
      for (const e of events) await ctx.tx.query('INSERT INTO applied VALUES ($1, $2)', [e.meta.eventId, 100 + (e.value as any).n]);
      if (events.some((e) => (e.value as any).poison)) throw new Error('boom');
    });
    const chunk = [event(0, 1), event(1, 2, { poison: true }), event(2, 3)];
    await expect(applyChunk(env({ handleBatch }), TOPIC, 0, 0n, chunk, false)).rejects.toBeInstanceOf(NeedIsolation);
    await applyChunkIsolating(env({ handleBatch }), TOPIC, 0, 0n, chunk);
    expect(await appliedNs()).toEqual([1, 3]); // per-event handle, none of the fast path's rows
    expect((await outbox()).filter((r) => r.topic === `${TOPIC}.dlq`).map((r) => r.headers['dbb-original-offset'])).toEqual(['s:1']);
    expect(await stored()).toBe(3n);
  });

  it('given events the fast path returns as invalid, when the chunk applies, then exactly those are dead-lettered', async () => {
    const handleBatch = async (events: DecodedEvent[]) => ({ invalid: events.filter((e) => (e.value as any).n === 2).map((e) => ({ event: e, error: new InvalidEventError('two') })) });
    await applyChunkIsolating(env({ handleBatch }), TOPIC, 0, 0n, [event(0, 1), event(1, 2)]);
    expect((await outbox()).map((r) => [r.topic, r.headers['dbb-error']])).toEqual([[`${TOPIC}.dlq`, 's:two']]);
    expect(await stored()).toBe(2n);
  });

  it('given a transient error in a handler, when the chunk applies, then it propagates (to be retried) and nothing commits', async () => {
    const handle = async () => { throw new TransientError('db down'); };
    await expect(applyChunkIsolating(env({ handle }), TOPIC, 0, 0n, [event(0, 1)])).rejects.toBeInstanceOf(TransientError);
    expect(await stored()).toBe(0n);
    expect(await outbox()).toHaveLength(0);
  });
  it('given a consumer of a foreign topic, when its own decode reads the records, then the handler gets them, a repeated derived id is dropped and a refused record is dead-lettered', async () => {
    const seen: string[] = [];
    const decode = (m: { value: Buffer | null; offset: string }) => {
      const text = m.value!.toString();
      if (!text.startsWith('path:')) throw new InvalidEventError(`not a path: ${text}`);
      const id = `00000000-0000-4000-8000-${text.length.toString().padStart(12, '0')}`; // derived from the content
      return { name: 'Foreign', value: { path: text.slice(5) }, meta: { eventId: id, occurredAt: 1, correlationId: id, causationId: null, actor: null, source: 'foreign' } };
    };
    const handle = async (e: DecodedEvent) => { seen.push(`${e.name}:${(e.value as unknown as { path: string }).path}:${e.offset}`); };
    await applyChunkIsolating(env({ decode, handle }), TOPIC, 0, 0n, [message(0, Buffer.from('path:a')), message(1, Buffer.from('garbage')), message(2, Buffer.from('path:a')), message(3, Buffer.from('path:bb'))]);
    expect(seen).toEqual(['Foreign:a:0', 'Foreign:bb:3']);
    expect((await outbox()).map((r) => [r.topic, r.headers['dbb-error']])).toEqual([[`${TOPIC}.dlq`, 's:not a path: garbage']]);
    expect(await stored()).toBe(4n);
  });
});

/** `t.db` with every query counted (pool queries and those of checked-out clients): one per round trip. */
function counting(db: Db): { db: Db; sql: string[] } {
  const sql: string[] = [];
  const counted = <T extends object>(target: T, wrap: (v: unknown) => unknown = (v) => v): T => new Proxy(target, {
    get(o, p) {
      const v = Reflect.get(o, p);
      if (p === 'query') return (...a: [string | { text: string }, ...unknown[]]) => { sql.push(typeof a[0] === 'string' ? a[0] : a[0].text); return (v as Function).apply(o, a); };
      if (p === 'connect') return async () => counted(wrap(await (v as Function).apply(o)) as object);
      return typeof v === 'function' ? v.bind(o) : v;
    },
  });
  return { db: counted(db), sql };
}

describe('round trips per sub-batch (so the count cannot silently grow back)', () => {
  const inserting = async (events: DecodedEvent[], ctx: any) => {
    await ctx.tx.query('INSERT INTO applied SELECT * FROM unnest($1::uuid[], $2::int[])', [events.map((e) => e.meta.eventId), events.map((e) => (e.value as any).n)]);
  };
  const chunk = (from: number, n: number) => Array.from({ length: n }, (_, i) => event(from + i, from + i));

  it('given a handleBatch projection writing its rows with one statement, when chunks of 3 and 200 events apply, then each costs the handler\'s query plus 2 (open + dedupe, fence + commit)', async () => {
    for (const [from, n] of [[0, 3], [3, 200]]) {
      const c = counting(t.db);
      await applyChunk({ ...env({ handleBatch: inserting }), db: c.db }, TOPIC, 0, BigInt(from), chunk(from, n), false);
      expect(c.sql).toHaveLength(3);
      expect(c.sql[0]).toMatch(/^BEGIN; SET LOCAL search_path .*; INSERT INTO .*processed_events/s);
      expect(c.sql[2]).toMatch(/^DO \$fence\$.*next_offset = \d+;.*COMMIT$/s);
    }
    expect(await stored()).toBe(203n);
    expect((await appliedNs())).toHaveLength(203);
  });

  it('given a processor emitting one event per input, when a chunk applies, then the outbox insert and its NOTIFY add one round trip', async () => {
    const emitting = async (events: DecodedEvent[], ctx: any) => {
      await inserting(events, ctx);
      for (const e of events) await ctx.forEvent(e).emit('Thing', e.key, { n: (e.value as any).n });
    };
    const c = counting(t.db);
    await applyChunk({ ...env({ handleBatch: emitting }), db: c.db }, TOPIC, 0, 0n, chunk(0, 50), false);
    expect(c.sql).toHaveLength(4);
    expect(await outbox()).toHaveLength(50);
  });

  it('given a partition, when its stored offset is read, then that is one query', async () => {
    const c = counting(t.db);
    expect(await readStored(c.db, { q: t.q, group: 'g' }, 'u.dbb.fresh', 0)).toBe(0n);
    expect(await readStored(c.db, { q: t.q, group: 'g' }, TOPIC, 0)).toBe(0n);
    expect(c.sql).toHaveLength(2);
  });

  it('given no stored offset row for the partition, when a chunk applies, then the one-query fence still rolls everything back', async () => {
    const id = randomUUID();
    await expect(applyChunk(env(), 'u.dbb.no-row', 0, 0n, [event(0, 1, { id })], false)).rejects.toBeInstanceOf(FenceLost);
    expect(await appliedNs()).toEqual([]);
    expect(await outbox()).toHaveLength(0);
    expect((await t.db.query(`SELECT 1 FROM ${t.q}.processed_events WHERE event_id = $1`, [id])).rowCount).toBe(0);
  });
});

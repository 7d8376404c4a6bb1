// Duplicates dropped by eventId and the pruning of processed ids, against a real Postgres transaction
// and a fake clock for the pruning timer.
import { randomUUID } from 'node:crypto';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { withTx } from '../db.ts';
import { claimFresh, claimSql, pruneProcessed, startPruning } from './dedupe.ts';
import { throwawayDb, type ThrowawayDb } from './testing.ts';

let t: ThrowawayDb;
beforeAll(async () => { t = await throwawayDb('dedupe'); });
afterAll(async () => { await t?.drop(); });
afterEach(() => { vi.useRealTimers(); });

const claim = (ids: string[]) => withTx(t.db, (tx) => claimFresh(tx, t.q, ids));
const processed = async (ids: string[]) => (await t.db.query(`SELECT event_id FROM ${t.q}.processed_events WHERE event_id = ANY($1::uuid[])`, [ids])).rows.map((r) => r.event_id).sort();

describe('dedupe by eventId', () => {
  it('given ids never processed, when a batch claims them, then all are fresh and recorded', async () => {
    const ids = [randomUUID(), randomUUID()];
    expect([...await claim(ids)].sort()).toEqual([...ids].sort());
    expect(await processed(ids)).toEqual([...ids].sort());
  });

  it('given a committed batch, when a later batch carries one of its ids again (relay republished), then only the new id is fresh', async () => {
    const [a, b] = [randomUUID(), randomUUID()];
    await claim([a]);
    expect([...await claim([a, b])]).toEqual([b]);
  });

  it('given a batch that rolled back, when its ids come again, then they are fresh (nothing recorded)', async () => {
    const a = randomUUID();
    await expect(withTx(t.db, async (tx) => { await claimFresh(tx, t.q, [a]); throw new Error('handler failed'); })).rejects.toThrow('handler failed');
    expect([...await claim([a])]).toEqual([a]);
  });

  it('given no decodable event in a batch, when claiming, then nothing is queried and nothing is fresh', async () => {
    const tx = { query: vi.fn() } as any;
    expect((await claimFresh(tx, t.q, [])).size).toBe(0);
    expect(tx.query).not.toHaveBeenCalled();
  });
});

describe('pruning processed ids', () => {
  it('given ids older and younger than the retention, when pruned, then only the old ones are deleted', async () => {
    const [old, young] = [randomUUID(), randomUUID()];
    await t.db.query(`INSERT INTO ${t.q}.processed_events (event_id, processed_at) VALUES ($1, now() - interval '25 hours'), ($2, now() - interval '23 hours')`, [old, young]);
    await pruneProcessed(t.db, t.q, 24);
    expect(await processed([old, young])).toEqual([young]);
  });

  it('given the pruning timer, when the clock passes one interval, then old ids are pruned, and after stop nothing more runs', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const old = randomUUID();
    await t.db.query(`INSERT INTO ${t.q}.processed_events (event_id, processed_at) VALUES ($1, now() - interval '2 hours')`, [old]);
    const query = vi.spyOn(t.db, 'query');
    const stop = startPruning(t.db, t.q, 1, pino({ level: 'silent' }), 60_000);
    vi.advanceTimersByTime(59_999);
    expect(query).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(query).toHaveBeenCalledTimes(1);
    await vi.waitFor(async () => expect(await processed([old])).toEqual([]));
    stop();
    vi.advanceTimersByTime(10 * 60_000);
    expect(query.mock.calls.filter((c) => String(c[0]).startsWith('DELETE'))).toHaveLength(1);
    query.mockRestore();
  });
});

describe('claimSql', () => {
  it('given UUIDs, then it inlines them as a uuid[] literal; given none or one that is no UUID, then null (claimFresh and its parameter take over)', () => {
    const a = randomUUID();
    expect(claimSql('"s"', [a])).toBe(`INSERT INTO "s".processed_events (event_id) SELECT unnest('{${a}}'::uuid[]) ON CONFLICT DO NOTHING RETURNING event_id`);
    expect(claimSql('"s"', [])).toBeNull();
    expect(claimSql('"s"', [a, "x'}); DROP TABLE t; --"])).toBeNull();
  });
});

// The stored offsets and the fence (ARCHITECTURE §4) against a real Postgres transaction.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withTx } from '../db.ts';
import { advanceFence, FenceLost, readStored, seekTarget, type OffsetsTable } from './offsets.ts';
import { throwawayDb, type ThrowawayDb } from './testing.ts';

let t: ThrowawayDb;
let table: OffsetsTable;
beforeAll(async () => { t = await throwawayDb('offsets'); table = { q: t.q, group: 'dbb.unit' }; });
afterAll(async () => { await t?.drop(); });

const stored = (topic: string, partition = 0) => readStored(t.db, table, topic, partition);

describe('stored offsets', () => {
  it('given a partition never seen, when its stored offset is read, then it is 0 and a row exists', async () => {
    expect(await stored('new', 2)).toBe(0n);
    const { rows } = await t.db.query(`SELECT next_offset FROM ${t.q}.consumer_offsets WHERE group_id = $1 AND topic = 'new' AND partition = 2`, [table.group]);
    expect(rows).toHaveLength(1);
  });

  it('given offsets stored under another group, when this group reads, then it starts at 0', async () => {
    await withTx(t.db, (tx) => readStored(tx, { ...table, group: 'other' }, 'groups', 0).then(() => advanceFence(tx, { ...table, group: 'other' }, 'groups', 0, 0n, 9n)));
    expect(await stored('groups')).toBe(0n);
  });
});

describe('the fence', () => {
  it('given the stored offset is the batch start, when the batch commits, then the stored offset is the next one', async () => {
    expect(await stored('fence-ok')).toBe(0n);
    await withTx(t.db, (tx) => advanceFence(tx, table, 'fence-ok', 0, 0n, 5n));
    expect(await stored('fence-ok')).toBe(5n);
  });

  it('given another instance moved the stored offset, when a stale batch commits from the old start, then FenceLost is thrown and its writes roll back', async () => {
    await stored('fence-stale');
    await withTx(t.db, (tx) => advanceFence(tx, table, 'fence-stale', 0, 0n, 10n)); // the other instance
    await t.db.query('CREATE TABLE IF NOT EXISTS public.fence_writes (n int)');
    const stale = withTx(t.db, async (tx) => {
      await tx.query('INSERT INTO public.fence_writes VALUES (1)'); // the stale batch's own writes
      await advanceFence(tx, table, 'fence-stale', 0, 0n, 4n);
    });
    await expect(stale).rejects.toBeInstanceOf(FenceLost);
    expect(await stored('fence-stale')).toBe(10n);
    expect((await t.db.query('SELECT count(*)::int AS n FROM public.fence_writes')).rows[0].n).toBe(0);
  });

  it('given two instances apply the same batch concurrently, when both commit, then exactly one wins', async () => {
    await stored('fence-race');
    const attempt = () => withTx(t.db, (tx) => advanceFence(tx, table, 'fence-race', 0, 0n, 3n)).then(() => 'won', (err) => (err instanceof FenceLost ? 'lost' : Promise.reject(err)));
    const outcomes = await Promise.all([attempt(), attempt()]);
    expect(outcomes.sort()).toEqual(['lost', 'won']);
    expect(await stored('fence-race')).toBe(3n);
  });

  it('given a partition row that does not exist, when a batch commits, then FenceLost is thrown', async () => {
    await expect(withTx(t.db, (tx) => advanceFence(tx, table, 'no-row', 0, 0n, 1n))).rejects.toBeInstanceOf(FenceLost);
  });
});

describe('seek target', () => {
  it('given the fetch starts behind the stored offset, when checked, then seek to the stored offset', () => {
    expect(seekTarget(3n, 7n, undefined)).toBe(7n);
    expect(seekTarget(3n, 7n, 7n)).toBe(7n); // Kafka's committed offset trails Postgres: seek again, never skip
  });
  it('given the fetch starts ahead of the stored offset and no seek there was done, when checked, then seek back', () => {
    expect(seekTarget(9n, 4n, undefined)).toBe(4n);
  });
  it('given the fetch starts ahead after a seek to the stored offset (compacted/deleted records), when checked, then apply', () => {
    expect(seekTarget(9n, 4n, 4n)).toBeNull();
  });
  it('given the fetch starts at the stored offset, when checked, then apply', () => {
    expect(seekTarget(4n, 4n, undefined)).toBeNull();
  });
});

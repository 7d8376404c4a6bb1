// The effects ledger states (none → STARTED → DONE; STARTED left by a crash → UNKNOWN; idempotent
// mode) against a real Postgres: the batch transaction on one connection, the marks on a separate pool.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createPool, withTx, type Db } from '../db.ts';
import { runEffect } from './effects-ledger.ts';
import { throwawayDb, type ThrowawayDb } from './testing.ts';

let t: ThrowawayDb;
let marks: Db;
beforeAll(async () => { t = await throwawayDb('effects'); marks = createPool(t.url, 2); });
afterAll(async () => { await marks?.end(); await t?.drop(); });

/** The row as another connection sees it (committed state only). */
const committed = async (id: string) => (await t.db.query(`SELECT state, result FROM ${t.q}.effects WHERE effect_id = $1`, [id])).rows[0] as { state: string; result: unknown } | undefined;
const inBatch = <T>(fn: (tx: import('../db.ts').Tx) => Promise<T>, fail = false) => withTx(t.db, async (tx) => { const r = await fn(tx); if (fail) throw new Error('batch rolled back'); return r; });

describe('effects ledger', () => {
  it('given a new effect, when it runs, then STARTED is committed before fn runs and DONE with the result after', async () => {
    let seenDuring: unknown;
    const out = await inBatch((tx) => runEffect({ tx, marks, q: t.q }, 'e-new', async () => { seenDuring = await committed('e-new'); return { path: '/a' }; }));
    expect(seenDuring).toEqual({ state: 'STARTED', result: null });
    expect(out).toEqual({ status: 'DONE', result: { path: '/a' } });
    expect(await committed('e-new')).toEqual({ state: 'DONE', result: { path: '/a' } });
  });

  it('given an effect done in a batch that then rolled back, when the batch is retried, then fn is not run again and the result comes back', async () => {
    const fn = vi.fn(async () => 7);
    await expect(inBatch((tx) => runEffect({ tx, marks, q: t.q }, 'e-retry', fn), true)).rejects.toThrow('batch rolled back');
    const again = await inBatch((tx) => runEffect({ tx, marks, q: t.q }, 'e-retry', fn));
    expect(again).toEqual({ status: 'DONE', result: 7 });
    expect(fn).toHaveBeenCalledTimes(1);
  });

  it('given a crash after STARTED (mark left, no DONE), when the event is handled again, then the outcome is UNKNOWN and fn is not run', async () => {
    let die!: (err: Error) => void;
    const crashed = inBatch((tx) => runEffect({ tx, marks, q: t.q }, 'e-crash', () => new Promise<never>((_, reject) => { die = reject; }))); // fn hangs: the process dies here
    await vi.waitFor(async () => expect(await committed('e-crash')).toEqual({ state: 'STARTED', result: null }));
    const fn = vi.fn(async () => 1);
    expect(await inBatch((tx) => runEffect({ tx, marks, q: t.q }, 'e-crash', fn))).toEqual({ status: 'UNKNOWN' });
    expect(fn).not.toHaveBeenCalled();
    die(new Error('end of the test')); // release the first batch's connection
    await expect(crashed).rejects.toThrow('end of the test');
  });

  it('given fn fails, when the effect runs, then the error propagates and no mark is left (a retry runs fn again)', async () => {
    await expect(inBatch((tx) => runEffect({ tx, marks, q: t.q }, 'e-fail', async () => { throw new Error('disk full'); }))).rejects.toThrow('disk full');
    expect(await committed('e-fail')).toBeUndefined();
    expect(await inBatch((tx) => runEffect({ tx, marks, q: t.q }, 'e-fail', async () => 'ok'))).toEqual({ status: 'DONE', result: 'ok' });
  });

  it('given an idempotent effect, when it runs twice, then fn runs both times and the ledger has no row', async () => {
    const fn = vi.fn(async () => 'same');
    for (let i = 0; i < 2; i++) expect(await inBatch((tx) => runEffect({ tx, marks, q: t.q }, 'e-idem', fn, { idempotent: true }))).toEqual({ status: 'DONE', result: 'same' });
    expect(fn).toHaveBeenCalledTimes(2);
    expect(await committed('e-idem')).toBeUndefined();
  });

  it('given fn returns undefined, when done, then the result stored is null', async () => {
    await inBatch((tx) => runEffect({ tx, marks, q: t.q }, 'e-void', async () => undefined));
    expect(await committed('e-void')).toEqual({ state: 'DONE', result: null });
  });
});

// The effects ledger (ARCHITECTURE §4): a side effect outside Postgres runs at most once per effectId.
// States: none → STARTED (committed on the marks connection before fn runs) → DONE (committed on its
// own too, with the result, since the effect happened whether or not the batch commits). A STARTED
// found later means a run crashed in between: UNKNOWN, fn is not run again, the handler reconciles.
// fn failing removes the mark (nothing happened that needs reconciling; the handler's error decides).
import type { Db, Tx } from '../db.ts';
import type { EffectOutcome } from '../types.ts';

export interface Ledger {
  /** The batch transaction (reads the ledger). */
  tx: Tx;
  /** Pool for the marks, separate from the batch's connection. */
  marks: Db;
  /** Quoted schema of the effects table. */
  q: string;
}

export async function runEffect<T>(l: Ledger, effectId: string, fn: () => Promise<T>, o: { idempotent?: boolean } = {}): Promise<EffectOutcome<T>> {
  if (o.idempotent) return { status: 'DONE', result: await fn() };
  const { rows } = await l.tx.query(`SELECT state, result FROM ${l.q}.effects WHERE effect_id = $1`, [effectId]);
  if (rows[0]?.state === 'DONE') return { status: 'DONE', result: rows[0].result as T };
  if (rows[0]?.state === 'STARTED') return { status: 'UNKNOWN' };
  // STARTED is committed on its own connection before the effect runs: a crash after this line leaves the mark
  await l.marks.query(`INSERT INTO ${l.q}.effects (effect_id, state) VALUES ($1, 'STARTED')`, [effectId]);
  let result: T;
  try {
    result = await fn();
  } catch (err) {
    await l.marks.query(`DELETE FROM ${l.q}.effects WHERE effect_id = $1`, [effectId]);
    throw err;
  }
  // DONE is committed on its own too: the effect happened whether or not this batch commits, so a
  // retried batch gets the result back instead of UNKNOWN
  await l.marks.query(`UPDATE ${l.q}.effects SET state = 'DONE', result = $2, done_at = now() WHERE effect_id = $1`, [effectId, JSON.stringify(result ?? null)]);
  return { status: 'DONE', result };
}

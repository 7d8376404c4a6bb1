// Duplicates dropped by eventId (ARCHITECTURE §4): the outbox relay may republish after a crash, so
// each consumer keeps the ids it processed (processed_events, in its own schema), pruned by age.
import type { Logger } from 'pino';
import type { Db, Tx } from '../db.ts';

/** In the batch transaction: records `ids` as processed and returns those not seen before. */
export async function claimFresh(tx: Tx, q: string, ids: string[]): Promise<Set<string>> {
  const fresh = new Set<string>();
  if (!ids.length) return fresh;
  const { rows } = await tx.query(`INSERT INTO ${q}.processed_events (event_id) SELECT unnest($1::uuid[]) ON CONFLICT DO NOTHING RETURNING event_id`, [ids]);
  for (const r of rows) fresh.add(r.event_id);
  return fresh;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** `claimFresh`'s statement with the ids inlined, so it can share one simple-protocol query (no
 *  parameters) with BEGIN; null when an id is not a UUID (then `claimFresh` reports it as before). */
export function claimSql(q: string, ids: string[]): string | null {
  if (!ids.length || !ids.every((id) => UUID.test(id))) return null;
  return `INSERT INTO ${q}.processed_events (event_id) SELECT unnest('{${ids.join(',')}}'::uuid[]) ON CONFLICT DO NOTHING RETURNING event_id`;
}

/** Deletes processed ids older than `retentionH` hours (by the database clock). */
export async function pruneProcessed(db: Db, q: string, retentionH: number): Promise<number> {
  const res = await db.query(`DELETE FROM ${q}.processed_events WHERE processed_at < now() - make_interval(hours => $1)`, [retentionH]);
  return res.rowCount ?? 0;
}

/** Prunes every `everyMs` (default 10 min; timers unref'd); returns the stop function. */
export function startPruning(db: Db, q: string, retentionH: number, log: Logger, everyMs = 10 * 60_000): () => void {
  const timer = setInterval(() => {
    pruneProcessed(db, q, retentionH).catch((err) => log.warn({ err }, 'pruning processed ids failed'));
  }, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}

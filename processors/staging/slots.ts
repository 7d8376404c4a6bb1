// Per-user slots of the staging processor (STAGING_MAX_ACTIVE_PER_USER): which requests of a user are
// active and which wait, in order. Each change is one atomic statement in the batch transaction, so the
// slots commit or roll back with the events they cause, and requests of one user decided concurrently
// in a batch (or in two instances' batches: the row lock orders them) never both take the last slot.
import type pg from 'pg';

/** Takes a slot for `requestId` when the user has fewer than `cap` active and nobody waits (no
 *  overtaking); else queues it. Repeating it for the same request gives the same answer. */
export async function acquireSlot(tx: pg.PoolClient, username: string, requestId: string, cap: number): Promise<{ admitted: boolean; active: number; position: number }> {
  const { rows } = await tx.query(
    `INSERT INTO staging_user_slots AS s (username, active, waiting) VALUES ($1, ARRAY[$2::text], '{}')
     ON CONFLICT (username) DO UPDATE SET
       active = CASE WHEN $2 = ANY(s.active) OR $2 = ANY(s.waiting) OR cardinality(s.waiting) > 0 OR cardinality(s.active) >= $3 THEN s.active
                     ELSE array_append(s.active, $2::text) END,
       waiting = CASE WHEN $2 = ANY(s.active) OR $2 = ANY(s.waiting) OR (cardinality(s.waiting) = 0 AND cardinality(s.active) < $3) THEN s.waiting
                      ELSE array_append(s.waiting, $2::text) END
     RETURNING $2 = ANY(active) AS admitted, cardinality(active) AS active, coalesce(array_position(waiting, $2::text), 0) AS position`,
    [username, requestId, cap]);
  const r = rows[0];
  return { admitted: r.admitted, active: r.active, position: r.position };
}

/** Frees the slot of `requestId` and hands it to the user's first waiting request (returned), if any. */
export async function releaseSlot(tx: pg.PoolClient, username: string, requestId: string): Promise<string | null> {
  const { rows } = await tx.query(
    `WITH old AS (SELECT waiting[1] AS next FROM staging_user_slots WHERE username = $1 AND $2 = ANY(active) FOR UPDATE)
     UPDATE staging_user_slots s SET active = array_remove(s.active, $2::text) || CASE WHEN old.next IS NULL THEN '{}'::text[] ELSE ARRAY[old.next] END,
       waiting = s.waiting[2:]
     FROM old WHERE s.username = $1 RETURNING old.next`,
    [username, requestId]);
  return rows[0]?.next ?? null;
}

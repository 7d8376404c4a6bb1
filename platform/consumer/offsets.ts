// The stored offsets (ARCHITECTURE §4): Postgres, not Kafka, holds where a consumer group is in a
// partition. The row is also the fence: a batch moves it only from the offset the batch started at,
// so an instance that lost its partition can never commit a stale batch.
import pg from 'pg';
import type { Db, Tx } from '../db.ts';

/** The stored offset row no longer holds the offset the batch started at: another instance (or a
 *  replay swap) moved it; the batch transaction must roll back. */
export class FenceLost extends Error {}

export interface OffsetsTable {
  /** Quoted schema of the consumer_offsets table. */
  q: string;
  /** Group the offsets are stored under. */
  group: string;
}

/** The stored next offset of a partition (a new partition starts at 0), in one round trip. */
export async function readStored(db: Db | Tx, t: OffsetsTable, topic: string, partition: number): Promise<bigint> {
  const where = `FROM ${t.q}.consumer_offsets WHERE group_id = $1 AND topic = $2 AND partition = $3`;
  const { rows } = await db.query(
    `WITH ins AS (INSERT INTO ${t.q}.consumer_offsets (group_id, topic, partition, next_offset) VALUES ($1, $2, $3, 0) ON CONFLICT DO NOTHING RETURNING next_offset)
     SELECT next_offset FROM ins UNION ALL SELECT next_offset ${where}`, [t.group, topic, partition]);
  if (rows.length) return BigInt(rows[0].next_offset);
  // another instance inserted the row after this statement's snapshot was taken: it is committed now
  const again = await db.query(`SELECT next_offset ${where}`, [t.group, topic, partition]);
  return BigInt(again.rows[0].next_offset);
}

/** In the batch transaction: stored offset `from` (the batch start) → `to`; throws FenceLost if the
 *  stored offset is not `from` any more. */
export async function advanceFence(tx: Tx, t: OffsetsTable, topic: string, partition: number, from: bigint, to: bigint): Promise<void> {
  const upd = await tx.query(
    `UPDATE ${t.q}.consumer_offsets SET next_offset = $4, updated_at = now() WHERE group_id = $1 AND topic = $2 AND partition = $3 AND next_offset = $5`,
    [t.group, topic, partition, String(to), String(from)]);
  if (upd.rowCount !== 1) throw new FenceLost();
}

const FENCE_LOST = 'DBBFL';

/** `advanceFence` and COMMIT as one parameterless query (simple protocol, one round trip): when the
 *  stored offset is not `from` any more the DO block raises, which stops the query before its COMMIT
 *  (the caller rolls back; `isFenceLost` tells the error). Null when a name would not fit the literal. */
export function fenceAndCommitSql(t: OffsetsTable, topic: string, partition: number, from: bigint, to: bigint): string | null {
  if (!Number.isSafeInteger(partition)) return null;
  const body = `UPDATE ${t.q}.consumer_offsets SET next_offset = ${to}, updated_at = now() WHERE group_id = ${pg.escapeLiteral(t.group)} AND topic = ${pg.escapeLiteral(topic)} AND partition = ${partition} AND next_offset = ${from};
  IF NOT FOUND THEN RAISE EXCEPTION 'offset fence lost' USING ERRCODE = '${FENCE_LOST}'; END IF;`;
  if (body.includes('$fence$')) return null;
  return `DO $fence$ BEGIN ${body} END $fence$; COMMIT`;
}

/** The error `fenceAndCommitSql`'s query fails with when the fence is lost. */
export const isFenceLost = (err: unknown) => (err as { code?: unknown } | null)?.code === FENCE_LOST;

/** Where the partition must be read from, or null to apply the batch as fetched: Kafka's position
 *  (`first`) behind the stored offset (Kafka's committed offsets trail Postgres, and skipping instead
 *  would re-fetch the same batch forever on a partition bigger than one fetch) or ahead of it (new
 *  schema, replay swap) without a seek to it already done. */
export function seekTarget(first: bigint, stored: bigint, seekedTo: bigint | undefined): bigint | null {
  return first < stored || (first > stored && seekedTo !== stored) ? stored : null;
}

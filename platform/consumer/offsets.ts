// The stored offsets (ARCHITECTURE §4): Postgres, not Kafka, holds where a consumer group is in a
// partition. The row is also the fence: a batch moves it only from the offset the batch started at,
// so an instance that lost its partition can never commit a stale batch.
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

/** The stored next offset of a partition (a new partition starts at 0). */
export async function readStored(db: Db | Tx, t: OffsetsTable, topic: string, partition: number): Promise<bigint> {
  await db.query(`INSERT INTO ${t.q}.consumer_offsets (group_id, topic, partition, next_offset) VALUES ($1, $2, $3, 0) ON CONFLICT DO NOTHING`, [t.group, topic, partition]);
  const { rows } = await db.query(`SELECT next_offset FROM ${t.q}.consumer_offsets WHERE group_id = $1 AND topic = $2 AND partition = $3`, [t.group, topic, partition]);
  return BigInt(rows[0].next_offset);
}

/** In the batch transaction: stored offset `from` (the batch start) → `to`; throws FenceLost if the
 *  stored offset is not `from` any more. */
export async function advanceFence(tx: Tx, t: OffsetsTable, topic: string, partition: number, from: bigint, to: bigint): Promise<void> {
  const upd = await tx.query(
    `UPDATE ${t.q}.consumer_offsets SET next_offset = $4, updated_at = now() WHERE group_id = $1 AND topic = $2 AND partition = $3 AND next_offset = $5`,
    [t.group, topic, partition, String(to), String(from)]);
  if (upd.rowCount !== 1) throw new FenceLost();
}

/** Where the partition must be read from, or null to apply the batch as fetched: Kafka's position
 *  (`first`) behind the stored offset (Kafka's committed offsets trail Postgres, and skipping instead
 *  would re-fetch the same batch forever on a partition bigger than one fetch) or ahead of it (new
 *  schema, replay swap) without a seek to it already done. */
export function seekTarget(first: bigint, stored: bigint, seekedTo: bigint | undefined): bigint | null {
  return first < stored || (first > stored && seekedTo !== stored) ? stored : null;
}

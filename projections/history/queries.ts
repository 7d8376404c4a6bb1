// The only SQL the gateway runs for history: an entity's events, oldest first.
import type pg from 'pg';
import type { Outcome } from './fold.ts';

type Db = Pick<pg.Pool, 'query'>;
export const SCHEMA = 'projection_history';

export interface HistoryEntry {
  at: string; actor: string | null; event: string; outcome: Outcome; detail: string | null;
  correlationId: string | null; topic: string; partition: number; offset: number;
}

/** Every event of one entity of `domain` (the Kafka key), in log order; [] when there is none. */
export async function getEntityHistory(db: Db, domain: string, key: string, limit: number, schema = SCHEMA): Promise<HistoryEntry[]> {
  const { rows } = await db.query(
    `SELECT occurred_at, actor, event, outcome, detail, correlation_id, topic, partition, "offset"
       FROM ${schema}.history_events WHERE domain = $1 AND entity_key = $2
      ORDER BY "offset", occurred_at LIMIT $3`, [domain, key, limit]);
  return rows.map((r) => ({
    at: r.occurred_at.toISOString(), actor: r.actor, event: r.event, outcome: r.outcome, detail: r.detail,
    correlationId: r.correlation_id, topic: r.topic, partition: r.partition, offset: Number(r.offset),
  }));
}

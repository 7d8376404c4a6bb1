// Writes history rows (fold.ts) in the projection's batch transaction (search_path = its schema, so a
// replay into a shadow or snapshot schema writes there). The log position is the primary key: the
// runtime's offset fence orders batches, and a duplicate or replayed event inserts nothing.
import type pg from 'pg';
import type { HistoryRow } from './fold.ts';

export async function applyRows(tx: pg.PoolClient, rows: HistoryRow[]): Promise<void> {
  if (!rows.length) return;
  const col = <K extends keyof HistoryRow>(k: K) => rows.map((r) => r[k]);
  await tx.query(
    `INSERT INTO history_events (topic, partition, "offset", domain, entity_key, event, occurred_at, actor, outcome, detail, correlation_id, event_id)
     SELECT * FROM unnest($1::text[], $2::int[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::timestamptz[], $8::text[], $9::text[], $10::text[], $11::text[], $12::uuid[])
     ON CONFLICT (topic, partition, "offset") DO NOTHING`,
    [col('topic'), col('partition'), col('offset'), col('domain'), col('entityKey'), col('event'), rows.map((r) => new Date(r.occurredAt)),
      col('actor'), col('outcome'), col('detail'), col('correlationId'), col('eventId')]);
}

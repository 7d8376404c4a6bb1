// Writes history rows (fold.ts) in the projection's batch transaction (search_path = its schema, so a
// replay into a shadow or snapshot schema writes there). The log position is the primary key: the
// runtime's offset fence orders batches, and a duplicate or replayed event inserts nothing.
import type pg from 'pg';
import type { HistoryRow } from './fold.ts';

/** The rows go as one JSON parameter: pg would build an escaped array literal per column (12 strings
 *  of the batch's size, and a replace per element), most of the workers' allocation under an ingest burst. */
export async function applyRows(tx: pg.PoolClient, rows: HistoryRow[]): Promise<void> {
  if (!rows.length) return;
  await tx.query(
    `INSERT INTO history_events (topic, partition, "offset", domain, entity_key, event, occurred_at, actor, outcome, detail, correlation_id, event_id)
     SELECT topic, partition, "offset", domain, "entityKey", event, to_timestamp("occurredAt"/1000.0), actor, outcome, detail, "correlationId", "eventId"
     FROM json_to_recordset($1::json) AS u(topic text, partition int, "offset" bigint, domain text, "entityKey" text, event text, "occurredAt" float8,
       actor text, outcome text, detail text, "correlationId" text, "eventId" uuid)
     ON CONFLICT (topic, partition, "offset") DO NOTHING`,
    [JSON.stringify(rows)]);
}

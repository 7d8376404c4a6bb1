// Applies fold's row changes inside the batch transaction. Table names are unqualified: the runtime
// sets search_path to the projection's schema (or a shadow schema during `dbb replay`). files.last_offset
// (the offset of the last event applied to the file) guards every file change; history rows are keyed by event id.
import type pg from 'pg';
import type { RowChange } from './fold.ts';

const COLS: [keyof Extract<RowChange, { op: 'file' }>['fields'], string][] = [
  ['relPath', 'rel_path'], ['checksum', 'checksum'], ['size', 'size'], ['sourcePath', 'source_path'], ['storagePath', 'storage_path'],
  ['inStorage', 'in_storage'], ['attempts', 'attempts'], ['plugin', 'plugin'], ['lastError', 'last_error'], ['finderAction', 'finder_action'],
];

export async function applyChanges(tx: Pick<pg.PoolClient, 'query'>, changes: RowChange[]): Promise<void> {
  for (const c of changes) {
    if (c.op === 'event') {
      await tx.query(
        `INSERT INTO file_events (event_id, file_id, event_offset, event, status, occurred_at, actor, plugin, attempt, duration_ms, error, details)
         VALUES ($1,$2,$3,$4,$5,to_timestamp($6/1000.0),$7,$8,$9,$10,$11,$12) ON CONFLICT (event_id) DO NOTHING`,
        [c.eventId, c.fileId, c.offset, c.event, c.status, c.occurredAt, c.actor, c.plugin, c.attempt, c.durationMs, c.error, c.details === null ? null : JSON.stringify(c.details)],
      );
      continue;
    }
    const set = COLS.filter(([k]) => c.fields[k] !== undefined);
    const params: unknown[] = [c.fileId, c.offset, c.at, c.status?.to ?? null, c.status?.from ?? [], c.fields.discoveredAt ?? null];
    const vals = set.map(([k]) => { params.push(c.fields[k]); return `$${params.length}`; });
    // status moves only along TRANSITIONS; status_at follows the status
    const statusSql = `CASE WHEN $4::text IS NOT NULL AND COALESCE(files.status, 'NONE') = ANY($5::text[]) THEN $4 ELSE files.status END`;
    const statusAtSql = `CASE WHEN $4::text IS NOT NULL AND COALESCE(files.status, 'NONE') = ANY($5::text[]) THEN to_timestamp($3/1000.0) ELSE files.status_at END`;
    const updates = [
      ...set.map(([, col], i) => `${col} = ${vals[i]}`),
      `status = ${statusSql}`, `status_at = ${statusAtSql}`,
      `discovered_at = COALESCE(files.discovered_at, to_timestamp($6/1000.0))`,
      `updated_at = to_timestamp($3/1000.0)`, `last_offset = $2`,
    ];
    if (c.upsert) {
      await tx.query(
        `INSERT INTO files AS files (file_id, last_offset, updated_at, status, status_at, discovered_at${set.map(([, col]) => `, ${col}`).join('')})
         VALUES ($1, $2, to_timestamp($3/1000.0),
                 CASE WHEN 'NONE' = ANY($5::text[]) THEN $4 END, CASE WHEN 'NONE' = ANY($5::text[]) AND $4::text IS NOT NULL THEN to_timestamp($3/1000.0) END,
                 to_timestamp($6/1000.0)${vals.map((v) => `, ${v}`).join('')})
         ON CONFLICT (file_id) DO UPDATE SET ${updates.join(', ')} WHERE files.last_offset < $2`,
        params,
      );
    } else {
      await tx.query(`UPDATE files SET ${updates.join(', ')} WHERE file_id = $1 AND files.last_offset < $2`, params);
    }
  }
}

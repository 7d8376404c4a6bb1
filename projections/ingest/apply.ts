// Applies fold's row changes inside the batch transaction. Table names are unqualified: the runtime
// sets search_path to the projection's schema (or a shadow schema during `dbb replay`). files.last_offset
// (the offset of the last event applied to the file) guards every file change; history rows are keyed by event id.
import type pg from 'pg';
import type { RowChange } from './fold.ts';

const COLS: [keyof Extract<RowChange, { op: 'file' }>['fields'], string][] = [
  ['relPath', 'rel_path'], ['checksum', 'checksum'], ['size', 'size'], ['sourcePath', 'source_path'], ['storagePath', 'storage_path'],
  ['inStorage', 'in_storage'], ['attempts', 'attempts'], ['plugin', 'plugin'], ['lastError', 'last_error'], ['finderAction', 'finder_action'],
  ['quarantinePath', 'quarantine_path'],
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

const CAST: Record<string, string> = { size: '::bigint', in_storage: '::boolean', attempts: '::integer' };
const FIELD_SQL = Object.fromEntries(COLS.map(([k, col]) => [k, `(u.f->>'${k}')${CAST[col] ?? ''}`])) as Record<string, string>;
// the rows go as one JSON parameter, not one array per column: pg builds an escaped array literal per
// column (a replace per element), most of the workers' allocation under an ingest burst
const FILES_IN = `json_to_recordset($1::json) AS u(id text, o bigint, at float8, st text, fr text, d float8, f jsonb, up boolean)`;
// status moves only along TRANSITIONS (u.fr: the statuses it may move from, comma-separated)
const MOVES = `u.st IS NOT NULL AND COALESCE(files.status, 'NONE') = ANY(string_to_array(u.fr, ','))`;
const INSERT_FILES = `
INSERT INTO files AS files (file_id, last_offset, updated_at, status, status_at, discovered_at, ${COLS.map(([, col]) => col).join(', ')})
SELECT u.id, u.o, to_timestamp(u.at/1000.0),
       CASE WHEN 'NONE' = ANY(string_to_array(u.fr, ',')) THEN u.st END,
       CASE WHEN 'NONE' = ANY(string_to_array(u.fr, ',')) AND u.st IS NOT NULL THEN to_timestamp(u.at/1000.0) END,
       to_timestamp(u.d/1000.0), ${COLS.map(([k, col]) => (col === 'in_storage' ? `COALESCE(${FIELD_SQL[k]}, false)` : col === 'attempts' ? `COALESCE(${FIELD_SQL[k]}, 0)` : FIELD_SQL[k])).join(', ')}
FROM ${FILES_IN} WHERE u.up
ON CONFLICT (file_id) DO NOTHING`;
const UPDATE_FILES = `
UPDATE files SET ${COLS.map(([k, col]) => `${col} = CASE WHEN u.f ? '${k}' THEN ${FIELD_SQL[k]} ELSE files.${col} END`).join(', ')},
  status = CASE WHEN ${MOVES} THEN u.st ELSE files.status END, status_at = CASE WHEN ${MOVES} THEN to_timestamp(u.at/1000.0) ELSE files.status_at END,
  discovered_at = COALESCE(files.discovered_at, to_timestamp(u.d/1000.0)), updated_at = to_timestamp(u.at/1000.0), last_offset = u.o
FROM ${FILES_IN} WHERE files.file_id = u.id AND files.last_offset < u.o`;

/** The same as applyChanges in multi-row statements: a file's k-th change of the batch goes to segment k
 *  (files are independent rows, only each file's own order matters), so a batch of files that each change
 *  twice (FileDiscovered then FileMoved, side by side in the log) is two segments, not one per file. Per
 *  segment the creating changes insert the files not there yet, then every change updates the rows below
 *  its offset (a row just inserted is at it already); history rows at the end, all at once. */
export async function applyBatch(tx: Pick<pg.PoolClient, 'query'>, changes: RowChange[]): Promise<void> {
  const segments: Extract<RowChange, { op: 'file' }>[][] = [];
  const seen = new Map<string, number>();
  for (const c of changes) {
    if (c.op !== 'file') continue;
    const k = seen.get(c.fileId) ?? 0;
    seen.set(c.fileId, k + 1);
    (segments[k] ??= []).push(c);
  }
  for (const segment of segments) await applyFiles(tx, segment);
  const ev = changes.flatMap((c) => (c.op === 'event' ? [c] : []));
  if (ev.length) {
    await tx.query(
      `INSERT INTO file_events (event_id, file_id, event_offset, event, status, occurred_at, actor, plugin, attempt, duration_ms, error, details)
       SELECT i, f, o, e, s, to_timestamp(t/1000.0), a, p, n, d, er, de
       FROM json_to_recordset($1::json) AS u(i text, f text, o bigint, e text, s text, t float8, a text, p text, n integer, d bigint, er text, de jsonb)
       ON CONFLICT (event_id) DO NOTHING`,
      [JSON.stringify(ev.map((c) => ({ i: c.eventId, f: c.fileId, o: c.offset, e: c.event, s: c.status, t: c.occurredAt, a: c.actor, p: c.plugin, n: c.attempt, d: c.durationMs, er: c.error, de: c.details })))],
    );
  }
}

async function applyFiles(tx: Pick<pg.PoolClient, 'query'>, files: Extract<RowChange, { op: 'file' }>[]): Promise<void> {
  if (!files.length) return;
  const params = [JSON.stringify(files.map((c) => ({
    id: c.fileId, o: c.offset, at: c.at, st: c.status?.to ?? null, fr: (c.status?.from ?? []).join(','), d: c.fields.discoveredAt ?? null,
    f: Object.fromEntries(COLS.filter(([k]) => c.fields[k] !== undefined).map(([k]) => [k, c.fields[k]])), up: c.upsert,
  })))];
  if (files.some((c) => c.upsert)) await tx.query(INSERT_FILES, params);
  await tx.query(UPDATE_FILES, params);
}

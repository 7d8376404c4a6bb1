// The only SQL the gateway and the ingest ops reach: files by status, a file's history, counts.
import type pg from 'pg';
import { STATUSES, type IngestStatus } from '../../domains/ingest/status.ts';

type Db = Pick<pg.Pool | pg.PoolClient, 'query'>;
/** The live read model; the read routes pass a snapshot's schema instead for `?as_of` (gateway/as-of.ts). */
export const SCHEMA = 'projection_ingest';

export interface IngestFileRow {
  fileId: string; relPath: string | null; checksum: string | null; size: number | null; sourcePath: string | null;
  storagePath: string | null; inStorage: boolean; status: IngestStatus | null; statusAt: string | null; attempts: number;
  plugin: string | null; lastError: string | null; finderAction: string | null; discoveredAt: string | null; updatedAt: string;
  quarantinePath: string | null;
}

const FILE_COLS = `file_id AS "fileId", rel_path AS "relPath", checksum, size::float8 AS size, source_path AS "sourcePath",
  storage_path AS "storagePath", in_storage AS "inStorage", status, status_at AS "statusAt", attempts, plugin,
  last_error AS "lastError", finder_action AS "finderAction", discovered_at AS "discoveredAt", updated_at AS "updatedAt",
  quarantine_path AS "quarantinePath"`;

const iso = (r: any) => ({
  ...r,
  statusAt: r.statusAt ? new Date(r.statusAt).toISOString() : null,
  discoveredAt: r.discoveredAt ? new Date(r.discoveredAt).toISOString() : null,
  updatedAt: new Date(r.updatedAt).toISOString(),
});

/** `quarantined`: true = only files in quarantine, false = only files not in quarantine. */
export async function listFiles(db: Db, q: { status?: IngestStatus; since?: Date; quarantined?: boolean; limit?: number; offset?: number } = {}, schema = SCHEMA): Promise<IngestFileRow[]> {
  const { rows } = await db.query(
    `SELECT ${FILE_COLS} FROM ${schema}.files
      WHERE ($1::text IS NULL OR status = $1) AND ($2::timestamptz IS NULL OR status_at >= $2)
        AND ($5::boolean IS NULL OR (quarantine_path IS NOT NULL) = $5)
      ORDER BY status_at NULLS LAST, file_id LIMIT $3 OFFSET $4`,
    [q.status ?? null, q.since ?? null, q.limit ?? 1000, q.offset ?? 0, q.quarantined ?? null],
  );
  return rows.map(iso);
}

export async function getFile(db: Db, fileId: string, schema = SCHEMA): Promise<IngestFileRow | null> {
  const { rows } = await db.query(`SELECT ${FILE_COLS} FROM ${schema}.files WHERE file_id = $1`, [fileId]);
  return rows[0] ? iso(rows[0]) : null;
}

export interface IngestEventRow {
  eventId: string; event: string; status: IngestStatus | null; occurredAt: string; actor: string | null;
  plugin: string | null; attempt: number | null; durationMs: number | null; error: string | null; details: unknown;
}

/** The whole history of a file, oldest first. */
export async function fileEvents(db: Db, fileId: string, schema = SCHEMA): Promise<IngestEventRow[]> {
  const { rows } = await db.query(
    `SELECT event_id AS "eventId", event, status, occurred_at AS "occurredAt", actor, plugin, attempt,
            duration_ms::float8 AS "durationMs", error, details
       FROM ${schema}.file_events WHERE file_id = $1 ORDER BY event_offset, event_id`,
    [fileId],
  );
  return rows.map((r) => ({ ...r, occurredAt: new Date(r.occurredAt).toISOString() }));
}

/** Files per current status, every seed status present (0 when none). */
export async function statusCounts(db: Db, schema = SCHEMA): Promise<Record<IngestStatus, number>> {
  const { rows } = await db.query(`SELECT status, count(*)::int AS n FROM ${schema}.files WHERE status IS NOT NULL GROUP BY status`);
  const out = Object.fromEntries(STATUSES.map((s) => [s, 0])) as Record<IngestStatus, number>;
  for (const r of rows) if (r.status in out) out[r.status as IngestStatus] = r.n;
  return out;
}

/** File ids to rerun: current status in `statuses` (and in storage or in quarantine), changed since `since`, optionally only
 *  `fileIds` (ids, relative, storage or quarantine paths: the rerun finds a quarantined file where it went). */
export async function selectForRerun(db: Db, q: { statuses: IngestStatus[]; since?: Date; fileIds?: string[] }): Promise<string[]> {
  const { rows } = await db.query(
    `SELECT file_id FROM projection_ingest.files
      WHERE status = ANY($1) AND ($2::timestamptz IS NULL OR status_at >= $2)
        AND (($3::text[] IS NULL AND (in_storage OR quarantine_path IS NOT NULL))
             OR file_id = ANY($3) OR rel_path = ANY($3) OR storage_path = ANY($3) OR quarantine_path = ANY($3))
      ORDER BY file_id`,
    [q.statuses, q.since ?? null, q.fileIds?.length ? q.fileIds : null],
  );
  return rows.map((r) => r.file_id);
}

/** Which of these file ids the projection already knows (backfill skips them). */
export async function knownFileIds(db: Db, fileIds: string[]): Promise<Set<string>> {
  if (!fileIds.length) return new Set();
  const { rows } = await db.query(`SELECT file_id FROM projection_ingest.files WHERE file_id = ANY($1)`, [fileIds]);
  return new Set(rows.map((r) => r.file_id));
}

/** Whether every rerun request (`eventIds`) is folded and none of `fileIds` is still waiting for an outcome. */
export async function rerunsDone(db: Db, fileIds: string[], eventIds: string[]): Promise<boolean> {
  const { rows } = await db.query(
    `SELECT (SELECT count(*)::int FROM projection_ingest.file_events WHERE event_id = ANY($2)) AS seen,
            (SELECT count(*)::int FROM projection_ingest.files WHERE file_id = ANY($1) AND status IN ('RERUN', 'PENDING', 'UNTRIED')) AS open`,
    [fileIds, eventIds],
  );
  return rows[0].seen === eventIds.length && rows[0].open === 0;
}

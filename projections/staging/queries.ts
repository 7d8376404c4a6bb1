// The only SQL the gateway runs for staging: seed-shaped request records and the log view.
import type pg from 'pg';

type Db = Pick<pg.Pool, 'query'>;
export const SCHEMA = 'projection_staging';

export interface StagingRequestRecord {
  id: string;
  method: string;
  username: string;
  local_path_on_storage: string;
  relative_path: string;
  status: 'QUEUED' | 'SUCCESS' | 'FAILURE';
  attempts: number;
  skipped: boolean;
  reconciled: boolean;
  source_path: string | null;
  destination: string | null;
  size_bytes: number | null;
  sha256: string | null;
  /** QUEUED behind the user's cap (STAGING_MAX_ACTIVE_PER_USER) */
  waiting: boolean;
  notify_url: string | null;
  notify_status: 'PENDING' | 'DELIVERED' | 'FAILED' | null;
  error_code: string | null;
  error_reason: string | null;
  actor: string | null;
  requested_at: string;
  started_at: string | null;
  finished_at: string | null;
  duration_ms: number | null;
}

const COLUMNS = `request_id AS id, method, username, local_path_on_storage, relative_path, status, attempts, skipped, reconciled, source_path,
  destination, size_bytes::float8 AS size_bytes, sha256, waiting, notify_url, notify_status, error_code, error_reason, actor, requested_at, started_at, finished_at,
  (extract(epoch FROM finished_at - started_at) * 1000)::float8 AS duration_ms`;

const iso = (d: Date | null) => (d ? d.toISOString() : null);
function shape(r: any): StagingRequestRecord {
  return { ...r, requested_at: iso(r.requested_at)!, started_at: iso(r.started_at), finished_at: iso(r.finished_at) };
}

export async function getStagingRequest(db: Db, id: string, schema = SCHEMA): Promise<StagingRequestRecord | null> {
  const { rows } = await db.query(`SELECT ${COLUMNS} FROM ${schema}.staging_requests WHERE request_id = $1`, [id]);
  return rows[0] ? shape(rows[0]) : null;
}

export async function listStagingRequests(db: Db, f: { username?: string; status?: string; limit: number }, schema = SCHEMA): Promise<StagingRequestRecord[]> {
  const { rows } = await db.query(
    `SELECT ${COLUMNS} FROM ${schema}.staging_requests
     WHERE ($1::text IS NULL OR username = $1) AND ($2::text IS NULL OR status = $2)
     ORDER BY requested_at DESC, request_id LIMIT $3`,
    [f.username ?? null, f.status ?? null, f.limit]);
  return rows.map(shape);
}

export interface StagingLogLine { at: string; level: string; request_id: string; event: string; message: string }

/** The last `limit` log lines, oldest first; with `username`, only the lines of that user's requests. */
export async function getStagingLog(db: Db, limit: number, schema = SCHEMA, username: string | null = null): Promise<StagingLogLine[]> {
  const { rows } = await db.query(
    `SELECT at, level, request_id, event, message FROM (
       SELECT l.* FROM ${schema}.staging_log l
       WHERE $2::text IS NULL OR EXISTS (SELECT 1 FROM ${schema}.staging_requests r WHERE r.request_id = l.request_id AND r.username = $2)
       ORDER BY at DESC, event_id DESC LIMIT $1) t ORDER BY at, event_id`, [limit, username]);
  return rows.map((r) => ({ ...r, at: r.at.toISOString() }));
}

/** The whole projection in a canonical order (replay checks). */
export async function dumpStagingProjection(db: Db, schema = SCHEMA): Promise<{ requests: unknown[]; log: unknown[] }> {
  const requests = await db.query(`SELECT * FROM ${schema}.staging_requests ORDER BY request_id`);
  const log = await db.query(`SELECT * FROM ${schema}.staging_log ORDER BY event_id`);
  return { requests: requests.rows, log: log.rows };
}

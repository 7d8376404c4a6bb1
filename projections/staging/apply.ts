// Applies staging row changes (fold.ts) in the projection's batch transaction (search_path = its schema,
// so a replay into a shadow schema writes there). staging_requests.last_offset guards every change of a
// request; log lines are keyed by event id. Must not import index.ts (wiring only).
import type pg from 'pg';
import type { RowChange } from './fold.ts';

export const ts = (ms: number | null) => (ms === null ? null : new Date(ms));

const SET_WAITING = `UPDATE staging_requests s SET waiting = x.w, last_offset = x.o
  FROM unnest($1::text[], $2::bool[], $3::bigint[]) AS x(r, w, o) WHERE s.request_id = x.r AND s.status = 'QUEUED' AND s.last_offset < x.o`;
const SET_NOTIFIED = `UPDATE staging_requests s SET notify_status = x.n, last_offset = x.o
  FROM unnest($1::text[], $2::text[], $3::bigint[]) AS x(r, n, o) WHERE s.request_id = x.r AND s.last_offset < x.o`;

export async function applyChange(tx: pg.PoolClient, c: RowChange): Promise<void> {
  switch (c.op) {
    case 'upsertRequest': {
      const r = c.row;
      await tx.query(
        `INSERT INTO staging_requests (request_id, method, username, local_path_on_storage, relative_path, status, actor, requested_at, last_offset, notify_url, notify_status)
         VALUES ($1, $2, $3, $4, $5, 'QUEUED', $6, $7, $8, $9, CASE WHEN $9::text IS NULL THEN NULL ELSE 'PENDING' END) ON CONFLICT (request_id) DO NOTHING`,
        [r.requestId, r.method, r.username, r.localPathOnStorage, r.relativePath, r.actor, ts(r.requestedAt), r.offset, r.notifyUrl]);
      return;
    }
    case 'completeRequest': {
      const r = c.row;
      await tx.query(
        `UPDATE staging_requests SET status = $2, skipped = $3, reconciled = $4, source_path = $5, destination = $6, size_bytes = $7,
           error_code = $8, error_reason = $9, started_at = $10, finished_at = $11, last_offset = $12, sha256 = $13, waiting = false
         WHERE request_id = $1 AND status = 'QUEUED' AND last_offset < $12`,
        [r.requestId, r.status, r.skipped, r.reconciled, r.sourcePath, r.destination, r.sizeBytes, r.errorCode, r.errorReason, ts(r.startedAt), ts(r.finishedAt), r.offset, r.sha256]);
      return;
    }
    case 'rerunRequest': {
      await tx.query(
        `UPDATE staging_requests SET status = 'QUEUED', attempts = attempts + 1, skipped = false, reconciled = false, destination = NULL,
           size_bytes = NULL, source_path = NULL, error_code = NULL, error_reason = NULL, started_at = NULL, finished_at = NULL, last_offset = $2,
           sha256 = NULL, notify_status = CASE WHEN notify_url IS NULL THEN NULL ELSE 'PENDING' END
         WHERE request_id = $1 AND status = 'FAILURE' AND last_offset < $2`,
        [c.row.requestId, c.row.offset]);
      return;
    }
    case 'setWaiting':
      await tx.query(SET_WAITING, [[c.row.requestId], [c.row.waiting], [c.row.offset]]);
      return;
    case 'setNotified':
      await tx.query(SET_NOTIFIED, [[c.row.requestId], [c.row.notifyStatus], [c.row.offset]]);
      return;
    case 'appendLog': {
      const r = c.row;
      await tx.query(
        'INSERT INTO staging_log (event_id, at, level, request_id, event, message) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (event_id) DO NOTHING',
        [r.eventId, ts(r.at), r.level, r.requestId, r.event, r.message]);
      return;
    }
  }
}

/** A staging_requests row as the batch holds it in memory (column names; timestamps as Date). */
type Row = Record<(typeof COLUMNS)[number], unknown> & { status: string; last_offset: string | number; notify_url: string | null };

const COLUMNS = ['request_id', 'method', 'username', 'local_path_on_storage', 'relative_path', 'status', 'skipped', 'reconciled', 'source_path',
  'destination', 'size_bytes', 'error_code', 'error_reason', 'actor', 'requested_at', 'started_at', 'finished_at', 'last_offset', 'attempts',
  'sha256', 'waiting', 'notify_url', 'notify_status'] as const;
const TYPES = ['text', 'text', 'text', 'text', 'text', 'text', 'bool', 'bool', 'text', 'text', 'bigint', 'text', 'text', 'text', 'timestamptz',
  'timestamptz', 'timestamptz', 'bigint', 'int', 'text', 'bool', 'text', 'text'];
const UPSERT = `INSERT INTO staging_requests (${COLUMNS.join(', ')})
  SELECT * FROM unnest(${TYPES.map((t, i) => `$${i + 1}::${t}[]`).join(', ')})
  ON CONFLICT (request_id) DO UPDATE SET ${COLUMNS.slice(1).map((c) => `${c} = EXCLUDED.${c}`).join(', ')}`;

const later = (row: Row, offset: string) => BigInt(row.last_offset as string) < BigInt(offset);

/** The same changes as applyChange one by one, in three statements whatever the batch holds: the rows
 *  of every request the batch touches are read (FOR UPDATE), the changes applied to them in memory in
 *  log order with applyChange's guards, the changed rows written back with one upsert; then every
 *  log line at once (keyed by event id, independent of the rest). */
export async function applyBatch(tx: pg.PoolClient, changes: RowChange[]): Promise<void> {
  const requests = changes.filter((c): c is Exclude<RowChange, { op: 'appendLog' }> => c.op !== 'appendLog');
  if (requests.length) {
    const ids = [...new Set(requests.map((c) => c.row.requestId))];
    const { rows } = await tx.query<Row>(`SELECT ${COLUMNS.join(', ')} FROM staging_requests WHERE request_id = ANY($1::text[]) FOR UPDATE`, [ids]);
    const byId = new Map(rows.map((r) => [r.request_id as string, r]));
    const changed = new Set<Row>();
    for (const c of requests) {
      const row = byId.get(c.row.requestId);
      if (c.op === 'upsertRequest') {
        if (row) continue; // ON CONFLICT DO NOTHING
        const r = c.row;
        const created: Row = {
          request_id: r.requestId, method: r.method, username: r.username, local_path_on_storage: r.localPathOnStorage, relative_path: r.relativePath,
          status: 'QUEUED', skipped: false, reconciled: false, source_path: null, destination: null, size_bytes: null, error_code: null, error_reason: null,
          actor: r.actor, requested_at: ts(r.requestedAt), started_at: null, finished_at: null, last_offset: r.offset, attempts: 1, sha256: null,
          waiting: false, notify_url: r.notifyUrl, notify_status: r.notifyUrl === null ? null : 'PENDING',
        };
        byId.set(r.requestId, created);
        changed.add(created);
        continue;
      }
      if (!row || !later(row, c.row.offset)) continue;
      switch (c.op) {
        case 'completeRequest': {
          if (row.status !== 'QUEUED') continue;
          const r = c.row;
          Object.assign(row, {
            status: r.status, skipped: r.skipped, reconciled: r.reconciled, source_path: r.sourcePath, destination: r.destination, size_bytes: r.sizeBytes,
            error_code: r.errorCode, error_reason: r.errorReason, started_at: ts(r.startedAt), finished_at: ts(r.finishedAt), sha256: r.sha256, waiting: false,
          });
          break;
        }
        case 'rerunRequest':
          if (row.status !== 'FAILURE') continue;
          Object.assign(row, {
            status: 'QUEUED', attempts: Number(row.attempts) + 1, skipped: false, reconciled: false, destination: null, size_bytes: null, source_path: null,
            error_code: null, error_reason: null, started_at: null, finished_at: null, sha256: null, notify_status: row.notify_url === null ? null : 'PENDING',
          });
          break;
        case 'setWaiting':
          if (row.status !== 'QUEUED') continue;
          row.waiting = c.row.waiting;
          break;
        case 'setNotified':
          row.notify_status = c.row.notifyStatus;
          break;
      }
      row.last_offset = c.row.offset;
      changed.add(row);
    }
    if (changed.size) {
      const out = [...changed];
      await tx.query(UPSERT, COLUMNS.map((col) => out.map((r) => r[col])));
    }
  }
  const logs = changes.flatMap((c) => (c.op === 'appendLog' ? [c.row] : []));
  if (logs.length) {
    await tx.query(
      `INSERT INTO staging_log (event_id, at, level, request_id, event, message)
       SELECT * FROM unnest($1::uuid[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[]) ON CONFLICT (event_id) DO NOTHING`,
      [logs.map((r) => r.eventId), logs.map((r) => ts(r.at)), logs.map((r) => r.level), logs.map((r) => r.requestId), logs.map((r) => r.event), logs.map((r) => r.message)]);
  }
}

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

/** The same changes as applyChange one by one, in multi-row statements. A request settles (completes, is
 *  requeued, starts waiting or running, is notified) at most once per segment, and nothing of a request follows its settle within a segment:
 *  such a change opens the next segment. Usually the whole batch is one segment.
 *  Per segment: creations, completions, requeues (so a request's settle follows its creation); then every
 *  log line at once (keyed by event id, independent of the rest). */
export async function applyBatch(tx: pg.PoolClient, changes: RowChange[]): Promise<void> {
  let segment: RowChange[] = [];
  let settled = new Set<string>();
  for (const c of changes) {
    if (c.op === 'appendLog') continue;
    if (settled.has(c.row.requestId)) { // a creation after a settle (a duplicate) keeps its place too
      await applySegment(tx, segment);
      segment = [];
      settled = new Set();
    }
    if (c.op !== 'upsertRequest') settled.add(c.row.requestId);
    segment.push(c);
  }
  await applySegment(tx, segment);
  const logs = changes.flatMap((c) => (c.op === 'appendLog' ? [c.row] : []));
  if (logs.length) {
    await tx.query(
      `INSERT INTO staging_log (event_id, at, level, request_id, event, message)
       SELECT * FROM unnest($1::uuid[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[]) ON CONFLICT (event_id) DO NOTHING`,
      [logs.map((r) => r.eventId), logs.map((r) => ts(r.at)), logs.map((r) => r.level), logs.map((r) => r.requestId), logs.map((r) => r.event), logs.map((r) => r.message)]);
  }
}

async function applySegment(tx: pg.PoolClient, changes: RowChange[]): Promise<void> {
  const ups = changes.flatMap((c) => (c.op === 'upsertRequest' ? [c.row] : []));
  const dones = changes.flatMap((c) => (c.op === 'completeRequest' ? [c.row] : []));
  const reruns = changes.flatMap((c) => (c.op === 'rerunRequest' ? [c.row] : []));
  if (ups.length) {
    await tx.query(
      `INSERT INTO staging_requests (request_id, method, username, local_path_on_storage, relative_path, status, actor, requested_at, last_offset, notify_url, notify_status)
       SELECT r, m, u, l, p, 'QUEUED', a, t, o, n, CASE WHEN n IS NULL THEN NULL ELSE 'PENDING' END
       FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::timestamptz[], $8::bigint[], $9::text[]) AS x(r, m, u, l, p, a, t, o, n)
       ON CONFLICT (request_id) DO NOTHING`,
      [ups.map((r) => r.requestId), ups.map((r) => r.method), ups.map((r) => r.username), ups.map((r) => r.localPathOnStorage),
        ups.map((r) => r.relativePath), ups.map((r) => r.actor), ups.map((r) => ts(r.requestedAt)), ups.map((r) => r.offset), ups.map((r) => r.notifyUrl)]);
  }
  if (dones.length) {
    await tx.query(
      `UPDATE staging_requests s SET status = x.st, skipped = x.sk, reconciled = x.rc, source_path = x.sp, destination = x.de, size_bytes = x.sz,
         error_code = x.ec, error_reason = x.er, started_at = x.sa, finished_at = x.fa, last_offset = x.o, sha256 = x.h, waiting = false
       FROM unnest($1::text[], $2::text[], $3::bool[], $4::bool[], $5::text[], $6::text[], $7::bigint[], $8::text[], $9::text[], $10::timestamptz[], $11::timestamptz[], $12::bigint[], $13::text[])
         AS x(r, st, sk, rc, sp, de, sz, ec, er, sa, fa, o, h)
       WHERE s.request_id = x.r AND s.status = 'QUEUED' AND s.last_offset < x.o`,
      [dones.map((r) => r.requestId), dones.map((r) => r.status), dones.map((r) => r.skipped), dones.map((r) => r.reconciled), dones.map((r) => r.sourcePath),
        dones.map((r) => r.destination), dones.map((r) => r.sizeBytes), dones.map((r) => r.errorCode), dones.map((r) => r.errorReason),
        dones.map((r) => ts(r.startedAt)), dones.map((r) => ts(r.finishedAt)), dones.map((r) => r.offset), dones.map((r) => r.sha256)]);
  }
  if (reruns.length) {
    await tx.query(
      `UPDATE staging_requests s SET status = 'QUEUED', attempts = attempts + 1, skipped = false, reconciled = false, destination = NULL,
         size_bytes = NULL, source_path = NULL, error_code = NULL, error_reason = NULL, started_at = NULL, finished_at = NULL, last_offset = x.o,
         sha256 = NULL, notify_status = CASE WHEN s.notify_url IS NULL THEN NULL ELSE 'PENDING' END
       FROM unnest($1::text[], $2::bigint[]) AS x(r, o)
       WHERE s.request_id = x.r AND s.status = 'FAILURE' AND s.last_offset < x.o`,
      [reruns.map((r) => r.requestId), reruns.map((r) => r.offset)]);
  }
  const waits = changes.flatMap((c) => (c.op === 'setWaiting' ? [c.row] : []));
  if (waits.length) await tx.query(SET_WAITING, [waits.map((r) => r.requestId), waits.map((r) => r.waiting), waits.map((r) => r.offset)]);
  const notes = changes.flatMap((c) => (c.op === 'setNotified' ? [c.row] : []));
  if (notes.length) await tx.query(SET_NOTIFIED, [notes.map((r) => r.requestId), notes.map((r) => r.notifyStatus), notes.map((r) => r.offset)]);
}

// Applies fold.ts row changes in the projection's batch transaction (search_path = its schema, so a
// replay into a shadow schema writes there). jobs.last_offset guards every change of a job; a file
// counts only while the job is STAGING and the file was pending, as in the processor. applyChanges is
// handle's (one event), applyBatch handleBatch's (rows folded in memory); the two must agree.
import type pg from 'pg';
import type { RowChange } from './fold.ts';

type Tx = pg.PoolClient;
const SET_COLUMNS = new Set(['submitted', 'callback_status', 'callback_attempts', 'callback_error']);

export async function applyChanges(tx: Tx, offset: string, changes: RowChange[]): Promise<void> {
  for (const c of changes) {
    switch (c.op) {
      case 'jobRequested':
        await tx.query(
          `INSERT INTO jobs (job_id, status, notify_url, created, last_offset) VALUES ($1, 'REQUESTED', $2, to_timestamp($3 / 1000.0), $4)
           ON CONFLICT (job_id) DO NOTHING`, [c.jobId, c.notifyUrl, c.created, offset]);
        break;
      case 'jobCreated': {
        const { rowCount } = await tx.query(
          `UPDATE jobs SET status = 'STAGING', total_files = $2, deadline = to_timestamp($3 / 1000.0), last_offset = $4
           WHERE job_id = $1 AND last_offset < $4 AND status = 'REQUESTED'`, [c.jobId, c.files.length, c.deadline, offset]);
        if (rowCount) await tx.query('INSERT INTO files (job_id, name) SELECT $1, unnest($2::text[]) ON CONFLICT DO NOTHING', [c.jobId, c.files]);
        break;
      }
      case 'jobSet': {
        const cols = Object.keys(c.set).filter((k) => SET_COLUMNS.has(k));
        const sets = cols.map((k, i) => `${k} = $${i + 3}`).join(', ');
        await tx.query(`UPDATE jobs SET ${sets}, last_offset = $2 WHERE job_id = $1 AND last_offset < $2`,
          [c.jobId, offset, ...cols.map((k) => (c.set as Record<string, unknown>)[k])]);
        break;
      }
      case 'jobFinished':
        await tx.query(
          `UPDATE jobs SET status = $2, completed = true, completed_at = to_timestamp($3 / 1000.0), return_code = $4, comment = $5,
             ready_files = COALESCE($6, ready_files), error_files = COALESCE($7, error_files), callback_status = 'PENDING', last_offset = $8
           WHERE job_id = $1 AND last_offset < $8 AND status <> 'CANCELLED'`,
          [c.jobId, c.status, c.at, c.returnCode, c.comment, c.counts?.ready ?? null, c.counts?.error ?? null, offset]);
        break;
      case 'files':
        // one statement per notification batch, whatever its size
        await tx.query(
          `WITH j AS (SELECT 1 FROM jobs WHERE job_id = $1 AND last_offset < $2 AND status = 'STAGING'),
                input AS (SELECT * FROM unnest($3::text[], $4::boolean[], $5::text[]) AS t(name, ok, err)),
                f AS (UPDATE files SET ready = i.ok, error = NOT i.ok, readytime = to_timestamp($6 / 1000.0), error_text = i.err
                      FROM input i WHERE files.job_id = $1 AND files.name = i.name AND NOT files.ready AND NOT files.error
                      AND EXISTS (SELECT 1 FROM j) RETURNING files.ready)
           UPDATE jobs SET last_offset = $2,
             ready_files = ready_files + (SELECT count(*) FROM f WHERE ready),
             error_files = error_files + (SELECT count(*) FROM f WHERE NOT ready)
           WHERE job_id = $1 AND last_offset < $2`,
          [c.jobId, offset, c.files.map((f) => f.name), c.files.map((f) => f.ready), c.files.map((f) => f.error), c.at]);
        break;
      case 'jobCancelled': {
        // DELETE /staging removes the job. The id stays taken on the write side (processor_tape.job_ids),
        // and no event of the job can follow TapeJobCancelled that would insert the row again.
        const { rowCount } = await tx.query('DELETE FROM jobs WHERE job_id = $1 AND last_offset < $2', [c.jobId, offset]);
        if (rowCount) await tx.query('DELETE FROM files WHERE job_id = $1', [c.jobId]);
        break;
      }
      case 'released':
        await tx.query(
          `WITH f AS (UPDATE files SET released_at = to_timestamp($3 / 1000.0)
                      WHERE job_id = $1 AND name = ANY($4::text[]) AND released_at IS NULL
                      AND EXISTS (SELECT 1 FROM jobs WHERE job_id = $1 AND last_offset < $2) RETURNING 1)
           UPDATE jobs SET released_files = released_files + (SELECT count(*) FROM f), last_offset = $2 WHERE job_id = $1 AND last_offset < $2`,
          [c.jobId, offset, c.at, c.files]);
        break;
      case 'heartbeat':
        await tx.query(
          `INSERT INTO adapter (id, heartbeat, notifications_consumed, cache, last_offset) VALUES ('tape', to_timestamp($1 / 1000.0), $2, $3, $4)
           ON CONFLICT (id) DO UPDATE SET heartbeat = EXCLUDED.heartbeat, notifications_consumed = EXCLUDED.notifications_consumed,
             cache = EXCLUDED.cache, last_offset = EXCLUDED.last_offset
           WHERE adapter.last_offset < EXCLUDED.last_offset`, [c.at, c.notificationsConsumed, c.cache, offset]);
        break;
      default: {
        const never: never = c;
        void never;
      }
    }
  }
}

type JobRow = Record<string, unknown> & { job_id: number; status: string; last_offset: number | string; ready_files: number; error_files: number; released_files: number };
type FileRow = Record<string, unknown> & { job_id: number; name: string; ready: boolean; error: boolean; released_at: Date | string | null };

const later = (row: JobRow, offset: string) => BigInt(row.last_offset) < BigInt(offset);
const ts = (ms: number) => new Date(ms);
const fileKey = (jobId: number, name: string) => `${jobId}\u0000${name}`;

/** The same as applyChanges for every event of a sub-batch: the batch's job and file rows are read once
 *  (FOR UPDATE), every change is folded into them in memory in log order with applyChanges's guards, and
 *  the rows that changed are written back in one statement per table (deletes first). The adapter row
 *  takes the batch's last heartbeat (each one overwrites it whole). */
export async function applyBatch(tx: Tx, events: { offset: string; changes: RowChange[] }[]): Promise<void> {
  const changes = events.flatMap((e) => e.changes.map((c) => ({ c, offset: e.offset })));
  const beats = changes.filter(({ c }) => c.op === 'heartbeat');
  if (beats.length) await applyChanges(tx, beats[beats.length - 1].offset, [beats[beats.length - 1].c]);
  const jobChanges = changes.filter((x): x is { c: Exclude<RowChange, { op: 'heartbeat' }>; offset: string } => x.c.op !== 'heartbeat');
  if (!jobChanges.length) return;

  const ids = [...new Set(jobChanges.map(({ c }) => c.jobId))];
  const { rows: jobRows } = await tx.query<JobRow>('SELECT * FROM jobs WHERE job_id = ANY($1::bigint[]) FOR UPDATE', [ids]);
  const { rows: fileRows } = await tx.query<FileRow>('SELECT * FROM files WHERE job_id = ANY($1::bigint[]) FOR UPDATE', [ids]);
  const jobs = new Map(jobRows.map((r) => [Number(r.job_id), r]));
  const files = new Map(fileRows.map((f) => [fileKey(Number(f.job_id), f.name), f]));
  const changedJobs = new Set<JobRow>();
  const changedFiles = new Set<FileRow>();
  const deleted = new Set<number>(); // jobs whose stored rows (and files) go

  for (const { c, offset } of jobChanges) {
    const row = jobs.get(c.jobId);
    if (c.op === 'jobRequested') {
      if (row) continue; // ON CONFLICT DO NOTHING
      const created: JobRow = {
        job_id: c.jobId, status: 'REQUESTED', notify_url: c.notifyUrl, created: ts(c.created), completed: false, completed_at: null, deadline: null,
        submitted: false, total_files: 0, ready_files: 0, error_files: 0, return_code: null, comment: '', callback_status: 'NONE', callback_attempts: 0,
        callback_error: null, last_offset: offset, released_files: 0,
      };
      jobs.set(c.jobId, created);
      changedJobs.add(created);
      continue;
    }
    if (!row || !later(row, offset)) continue;
    switch (c.op) {
      case 'jobCreated':
        if (row.status !== 'REQUESTED') continue;
        Object.assign(row, { status: 'STAGING', total_files: c.files.length, deadline: ts(c.deadline) });
        for (const name of c.files) {
          const k = fileKey(c.jobId, name);
          if (files.has(k)) continue;
          const f: FileRow = { job_id: c.jobId, name, ready: false, error: false, readytime: null, error_text: null, released_at: null };
          files.set(k, f);
          changedFiles.add(f);
        }
        break;
      case 'jobSet':
        for (const [k, v] of Object.entries(c.set)) if (SET_COLUMNS.has(k)) row[k] = v;
        break;
      case 'jobFinished':
        if (row.status === 'CANCELLED') continue;
        Object.assign(row, {
          status: c.status, completed: true, completed_at: ts(c.at), return_code: c.returnCode, comment: c.comment, callback_status: 'PENDING',
          ready_files: c.counts?.ready ?? row.ready_files, error_files: c.counts?.error ?? row.error_files,
        });
        break;
      case 'files':
        // the job's offset moves whatever its status; files count only while it is STAGING
        if (row.status === 'STAGING') {
          for (const n of c.files) {
            const f = files.get(fileKey(c.jobId, n.name));
            if (!f || f.ready || f.error) continue;
            Object.assign(f, { ready: n.ready, error: !n.ready, readytime: ts(c.at), error_text: n.error });
            changedFiles.add(f);
            if (n.ready) row.ready_files = Number(row.ready_files) + 1; else row.error_files = Number(row.error_files) + 1;
          }
        }
        break;
      case 'released':
        for (const name of new Set(c.files)) {
          const f = files.get(fileKey(c.jobId, name));
          if (!f || f.released_at !== null) continue;
          f.released_at = ts(c.at);
          changedFiles.add(f);
          row.released_files = Number(row.released_files) + 1;
        }
        break;
      case 'jobCancelled':
        jobs.delete(c.jobId);
        changedJobs.delete(row);
        for (const [k, f] of files) if (Number(f.job_id) === c.jobId) { files.delete(k); changedFiles.delete(f); }
        deleted.add(c.jobId);
        continue;
      default: {
        const never: never = c;
        void never;
      }
    }
    row.last_offset = offset;
    changedJobs.add(row);
  }

  if (deleted.size) {
    await tx.query(
      `WITH d AS (DELETE FROM jobs WHERE job_id = ANY($1::bigint[])) DELETE FROM files WHERE job_id = ANY($1::bigint[])`, [[...deleted]]);
  }
  if (changedJobs.size) {
    await tx.query(
      `INSERT INTO jobs SELECT * FROM jsonb_populate_recordset(NULL::jobs, $1::jsonb)
       ON CONFLICT (job_id) DO UPDATE SET ${JOB_COLUMNS.map((k) => `${k} = EXCLUDED.${k}`).join(', ')}`, [JSON.stringify([...changedJobs])]);
  }
  if (changedFiles.size) {
    await tx.query(
      `INSERT INTO files SELECT * FROM jsonb_populate_recordset(NULL::files, $1::jsonb)
       ON CONFLICT (job_id, name) DO UPDATE SET ready = EXCLUDED.ready, error = EXCLUDED.error, readytime = EXCLUDED.readytime,
         error_text = EXCLUDED.error_text, released_at = EXCLUDED.released_at`, [JSON.stringify([...changedFiles])]);
  }
}

const JOB_COLUMNS = ['status', 'notify_url', 'created', 'completed', 'completed_at', 'deadline', 'submitted', 'total_files', 'ready_files', 'error_files',
  'return_code', 'comment', 'callback_status', 'callback_attempts', 'callback_error', 'last_offset', 'released_files'];

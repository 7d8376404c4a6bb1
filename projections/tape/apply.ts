// Applies fold.ts row changes in the projection's batch transaction (search_path = its schema, so a
// replay into a shadow schema writes there). jobs.last_offset guards every change of a job; a file
// counts only while the job is STAGING and the file was pending, as in the processor.
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

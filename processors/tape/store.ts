// Processor state of tape jobs in processor_tape (the handler's batch transaction, search_path set).
// A per-file notification costs one statement (markFile).
import type pg from 'pg';
import type { FileStatus, Job, TapeState } from './rules.ts';

type Tx = pg.PoolClient;

const toJob = (r: any): Job => ({
  status: r.status, jobId: Number(r.job_id), notifyUrl: r.notify_url, total: r.total, ready: r.ready, error: r.error,
  deadline: Number(r.deadline), submitted: r.submitted, returnCode: r.return_code, comment: r.comment, callback: r.callback,
  deliveryId: r.delivery_id,
});

export async function loadJob(tx: Tx, jobId: number): Promise<TapeState> {
  const { rows } = await tx.query('SELECT * FROM jobs WHERE job_id = $1', [jobId]);
  return rows[0] ? toJob(rows[0]) : { status: 'NONE' };
}

export async function saveJob(tx: Tx, job: Job, files?: string[]): Promise<void> {
  await tx.query(
    `INSERT INTO jobs (job_id, status, notify_url, total, ready, error, deadline, submitted, return_code, comment, callback, delivery_id)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
     ON CONFLICT (job_id) DO UPDATE SET status = $2, ready = $5, error = $6, submitted = $8, return_code = $9, comment = $10, callback = $11, delivery_id = $12`,
    [job.jobId, job.status, job.notifyUrl, job.total, job.ready, job.error, job.deadline, job.submitted, job.returnCode, job.comment, job.callback, job.deliveryId]);
  if (files?.length) {
    await tx.query(`INSERT INTO job_files (job_id, file) SELECT $1, unnest($2::text[]) ON CONFLICT DO NOTHING`, [job.jobId, files]);
  }
}

/** One statement per notification (most of the events): reads the job and the file's status as they
 *  were before, and, when the job is STAGING and the file PENDING, marks it READY/ERROR and bumps the
 *  job's counter. That condition is exactly when rules.decide accepts a file, so write and decision agree. */
export async function markFile(tx: Tx, jobId: number, file: string, to: Exclude<FileStatus, 'PENDING'>): Promise<{ job: TapeState; file: FileStatus | null }> {
  const { rows } = await tx.query(
    `WITH j0 AS (SELECT * FROM jobs WHERE job_id = $1),
          prev AS (SELECT status FROM job_files WHERE job_id = $1 AND file = $2),
          upd AS (UPDATE job_files SET status = $3 WHERE job_id = $1 AND file = $2 AND status = 'PENDING'
                  AND (SELECT status FROM j0) = 'STAGING' RETURNING 1),
          bump AS (UPDATE jobs SET ready = ready + CASE WHEN $3 = 'READY' THEN 1 ELSE 0 END, error = error + CASE WHEN $3 = 'ERROR' THEN 1 ELSE 0 END
                   WHERE job_id = $1 AND EXISTS (SELECT 1 FROM upd) RETURNING 1)
     SELECT j0.*, (SELECT status FROM prev) AS file_before, (SELECT count(*) FROM bump) AS bumped FROM j0`,
    [jobId, file, to]);
  if (!rows[0]) return { job: { status: 'NONE' }, file: null };
  return { job: toJob(rows[0]), file: rows[0].file_before ?? null };
}

export async function jobFiles(tx: Tx, jobId: number): Promise<string[]> {
  const { rows } = await tx.query('SELECT file FROM job_files WHERE job_id = $1 ORDER BY file', [jobId]);
  return rows.map((r) => r.file);
}

export async function overdueJobs(tx: Tx, now: number): Promise<number[]> {
  const { rows } = await tx.query(`SELECT job_id FROM jobs WHERE status = 'STAGING' AND deadline <= $1 ORDER BY job_id`, [now]);
  return rows.map((r) => Number(r.job_id));
}

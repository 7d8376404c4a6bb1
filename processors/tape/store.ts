// Processor state of tape jobs in processor_tape (the handler's batch transaction, search_path set).
// A notification batch costs two statements (loadJobFiles, markFiles), whatever its size.
import type pg from 'pg';
import type { FileStatus, Job, TapeState } from './rules.ts';

type Tx = pg.PoolClient;

const toJob = (r: any): Job => ({
  status: r.status, jobId: Number(r.job_id), notifyUrl: r.notify_url, total: r.total, ready: r.ready, error: r.error,
  deadline: Number(r.deadline), submitted: r.submitted, returnCode: r.return_code, comment: r.comment, callback: r.callback,
  deliveryId: r.delivery_id,
});

export async function loadJob(tx: Tx, jobId: number): Promise<TapeState> {
  // FOR UPDATE: the tick may complete a job from another partition's transaction
  const { rows } = await tx.query('SELECT * FROM jobs WHERE job_id = $1 FOR UPDATE', [jobId]);
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

/** One statement per notification batch: reads the job and the files' status as they were before, and,
 *  when the job is STAGING, moves the given PENDING files to READY/ERROR and bumps the job's counters.
 *  `files` must hold each file once and only files rules.acceptedFiles would take (first outcome wins),
 *  so the write and the decision agree. */
export async function markFiles(tx: Tx, jobId: number, files: { file: string; to: Exclude<FileStatus, 'PENDING'> }[]): Promise<void> {
  if (!files.length) return;
  await tx.query(
    `WITH input AS (SELECT * FROM unnest($2::text[], $3::text[]) AS t(file, to_status)),
          upd AS (UPDATE job_files f SET status = i.to_status FROM input i
                  WHERE f.job_id = $1 AND f.file = i.file AND f.status = 'PENDING' RETURNING f.status)
     UPDATE jobs SET ready = ready + (SELECT count(*) FROM upd WHERE status = 'READY'),
                     error = error + (SELECT count(*) FROM upd WHERE status = 'ERROR')
     WHERE job_id = $1 AND status = 'STAGING'`,
    [jobId, files.map((f) => f.file), files.map((f) => f.to)]);
}

/** The job and the status of each named file (null: not in the job), in one statement. */
export async function loadJobFiles(tx: Tx, jobId: number, names: string[]): Promise<{ job: TapeState; files: Map<string, FileStatus | null> }> {
  const { rows } = await tx.query(
    `WITH j AS (SELECT * FROM jobs WHERE job_id = $1 FOR UPDATE)
     SELECT (SELECT row_to_json(j) FROM j) AS job,
            (SELECT json_object_agg(file, status) FROM job_files WHERE job_id = $1 AND file = ANY($2::text[])) AS files`,
    [jobId, names]);
  const found = (rows[0].files ?? {}) as Record<string, FileStatus>;
  return {
    job: rows[0].job ? toJob(rows[0].job) : { status: 'NONE' },
    files: new Map(names.map((n) => [n, found[n] ?? null])),
  };
}

export async function jobFiles(tx: Tx, jobId: number): Promise<string[]> {
  const { rows } = await tx.query('SELECT file FROM job_files WHERE job_id = $1 ORDER BY file', [jobId]);
  return rows.map((r) => r.file);
}

export async function overdueJobs(tx: Tx, now: number): Promise<number[]> {
  const { rows } = await tx.query(`SELECT job_id FROM jobs WHERE status = 'STAGING' AND deadline <= $1 ORDER BY job_id`, [now]);
  return rows.map((r) => Number(r.job_id));
}

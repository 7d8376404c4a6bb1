// Processor state of tape jobs in processor_tape (the handler's batch transaction, search_path set).
// A batch costs one statement to read its jobs (and their files' status bytes) and one write per changed job.
import type pg from 'pg';
import type { FileStatus, Job, TapeState } from './rules.ts';

type Tx = pg.PoolClient;

const toJob = (r: any): Job => ({
  status: r.status, jobId: Number(r.job_id), notifyUrl: r.notify_url, total: r.total, ready: r.ready, error: r.error,
  deadline: Number(r.deadline), submitted: r.submitted, returnCode: r.return_code, comment: r.comment, callback: r.callback,
  deliveryId: r.delivery_id, callbackNextAt: r.callback_next_at === null ? null : Number(r.callback_next_at), callbackRounds: r.callback_rounds,
  callbackAttempts: r.callback_attempts, callbackSince: r.callback_since === null ? null : Number(r.callback_since),
  lastHeardAt: r.last_heard_at === null ? null : Number(r.last_heard_at), firstError: r.first_error,
  progress: r.progress ?? [], progressSent: r.progress_sent ?? 0,
});

/** A stored job and its files' status bytes (one per file, at its position in the file list). */
export interface StoredJob { job: TapeState; fileState: Buffer | null }

/** The jobs of a batch, locked in job id order (the tick may complete a job from another partition's
 *  transaction; one order keeps two batches from deadlocking), with one query. */
export async function loadJobs(tx: Tx, jobIds: number[]): Promise<Map<number, StoredJob>> {
  const { rows } = await tx.query('SELECT * FROM jobs WHERE job_id = ANY($1::bigint[]) ORDER BY job_id FOR UPDATE', [jobIds]);
  const out = new Map<number, StoredJob>(jobIds.map((id) => [id, { job: { status: 'NONE' }, fileState: null }]));
  for (const r of rows) out.set(Number(r.job_id), { job: toJob(r), fileState: r.file_state as Buffer });
  return out;
}

/** The status of each named file (null: not in the job), from the job's status bytes. */
export async function fileStatuses(tx: Tx, jobId: number, fileState: Buffer | null, names: string[]): Promise<Map<string, FileStatus | null>> {
  const pos = fileState ? await positionsOf(tx, jobId) : new Map<string, number>();
  const files = new Map<string, FileStatus | null>();
  for (const n of names) { const i = pos.get(n); files.set(n, i === undefined ? null : STATUS[fileState![i]]); }
  return files;
}

/** The status bytes with the given files' statuses written in (a copy; null when none changed). */
export async function markedFileState(tx: Tx, jobId: number, fileState: Buffer | null, files: ReadonlyMap<string, FileStatus | null>): Promise<Buffer | null> {
  if (!fileState) return null;
  const pos = await positionsOf(tx, jobId);
  let out: Buffer | null = null;
  for (const [name, status] of files) {
    const i = pos.get(name);
    if (i === undefined || status === null || STATUS[fileState[i]] === status) continue;
    out ??= Buffer.from(fileState);
    out[i] = CODE[status];
  }
  return out;
}

/** Writes a job; `files`: the file list of a job just created; `fileState`: its files' status bytes when they changed. */
export async function saveJob(tx: Tx, job: Job, files?: readonly string[], fileState?: Buffer | null): Promise<void> {
  await tx.query(
    `INSERT INTO jobs (job_id, status, notify_url, total, ready, error, deadline, submitted, return_code, comment, callback, delivery_id, file_state,
       callback_next_at, callback_rounds, callback_attempts, callback_since, last_heard_at, first_error, progress, progress_sent)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, COALESCE($18::bytea, $13), $14, $15, $16, $17, $19, $20, $21, $22)
     ON CONFLICT (job_id) DO UPDATE SET status = $2, ready = $5, error = $6, submitted = $8, return_code = $9, comment = $10, callback = $11, delivery_id = $12,
       callback_next_at = $14, callback_rounds = $15, callback_attempts = $16, callback_since = $17, file_state = COALESCE($18::bytea, jobs.file_state),
       last_heard_at = $19, first_error = $20, progress_sent = $22`,
    [job.jobId, job.status, job.notifyUrl, job.total, job.ready, job.error, job.deadline, job.submitted, job.returnCode, job.comment, job.callback, job.deliveryId,
      Buffer.alloc(files?.length ?? 0), job.callbackNextAt ?? null, job.callbackRounds ?? 0, job.callbackAttempts ?? 0, job.callbackSince ?? null, fileState ?? null,
      job.lastHeardAt ?? null, job.firstError ?? null, job.progress ?? [], job.progressSent ?? 0]);
  if (files?.length) {
    await tx.query(`INSERT INTO job_files (job_id, file, idx) SELECT $1, f, i - 1 FROM unnest($2::text[]) WITH ORDINALITY AS t(f, i) ON CONFLICT DO NOTHING`, [job.jobId, files]);
  }
}

const CODE: Record<FileStatus, number> = { PENDING: 0, READY: 1, ERROR: 2 };
const STATUS: FileStatus[] = ['PENDING', 'READY', 'ERROR'];

/** file → position in the job's file list. A job's file list never changes once created (and ids are
 *  never reused), so this cache cannot go stale; it is dropped when the job leaves STAGING. */
const positions = new Map<number, Map<string, number>>();

async function positionsOf(tx: Tx, jobId: number): Promise<Map<string, number>> {
  let m = positions.get(jobId);
  if (!m) {
    const { rows } = await tx.query('SELECT file, idx FROM job_files WHERE job_id = $1', [jobId]);
    m = new Map(rows.map((r) => [r.file as string, r.idx as number]));
    positions.set(jobId, m);
  }
  return m;
}

export const forgetPositions = (jobId: number) => positions.delete(jobId);

export async function jobFiles(tx: Tx, jobId: number): Promise<string[]> {
  const { rows } = await tx.query('SELECT file FROM job_files WHERE job_id = $1 ORDER BY file', [jobId]);
  return rows.map((r) => r.file);
}

export async function overdueJobs(tx: Tx, now: number): Promise<number[]> {
  const { rows } = await tx.query(`SELECT job_id FROM jobs WHERE status = 'STAGING' AND deadline <= $1 ORDER BY job_id`, [now]);
  return rows.map((r) => Number(r.job_id));
}

/** Staging jobs the library has been silent about since `heardBefore` (rules.onQuiet decides each), longest silent first. */
export async function quietJobs(tx: Tx, heardBefore: number, limit: number): Promise<number[]> {
  const { rows } = await tx.query(
    `SELECT job_id FROM jobs WHERE status = 'STAGING' AND submitted AND COALESCE(last_heard_at, 0) <= $1 ORDER BY last_heard_at NULLS FIRST, job_id LIMIT $2`,
    [heardBefore, limit]);
  return rows.map((r) => Number(r.job_id));
}

/** The job's files still PENDING in its status bytes, at most `max`, in file-list order. */
export async function pendingFiles(tx: Tx, jobId: number, max: number): Promise<string[]> {
  const { rows } = await tx.query(
    `SELECT f.file FROM jobs j JOIN job_files f USING (job_id)
     WHERE j.job_id = $1 AND get_byte(j.file_state, f.idx) = 0 ORDER BY f.idx LIMIT $2`, [jobId, max]);
  return rows.map((r) => r.file);
}

/** The job's files staged (READY in its status bytes). */
export async function readyFiles(tx: Tx, jobId: number): Promise<string[]> {
  const { rows } = await tx.query(
    `SELECT f.file FROM jobs j JOIN job_files f USING (job_id) WHERE j.job_id = $1 AND get_byte(j.file_state, f.idx) = 1 ORDER BY f.idx`, [jobId]);
  return rows.map((r) => r.file);
}

/** Jobs whose scheduled callback redelivery is due (rules.dueCallback decides each). */
export async function dueCallbacks(tx: Tx, now: number, limit = 100): Promise<number[]> {
  const { rows } = await tx.query(`SELECT job_id FROM jobs WHERE callback = 'PENDING' AND callback_next_at <= $1 ORDER BY callback_next_at, job_id LIMIT $2`, [now, limit]);
  return rows.map((r) => Number(r.job_id));
}

/** Whether this request holds its job id in job_ids: POST /staging reserved the id for exactly this
 *  event, or (a request appended another way, e.g. POST /api/v1/events) nobody had it and it is claimed now.
 *  (Only the gateway's reservation can race this: one partition handles all events of a job id.) */
export async function claimJobId(tx: Tx, jobId: number, eventId: string): Promise<boolean> {
  const holder = async () => (await tx.query('SELECT request_event_id FROM job_ids WHERE job_id = $1', [jobId])).rows[0] as { request_event_id: string | null } | undefined;
  const row = await holder();
  if (row) return row.request_event_id === eventId;
  // POST /staging may reserve the same id concurrently: whoever commits first holds it
  const { rowCount } = await tx.query('INSERT INTO job_ids (job_id, request_event_id) VALUES ($1, $2) ON CONFLICT (job_id) DO NOTHING', [jobId, eventId]);
  return rowCount ? true : (await holder())?.request_event_id === eventId;
}

/** Whether the write side accepted this job id (its request may not have been handled yet). */
export async function jobIdAccepted(tx: Tx, jobId: number): Promise<boolean> {
  const { rowCount } = await tx.query('SELECT 1 FROM job_ids WHERE job_id = $1', [jobId]);
  return (rowCount ?? 0) > 0;
}

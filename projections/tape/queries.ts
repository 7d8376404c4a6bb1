// The only SQL the gateway runs for tape: seed-shaped reads of projection_tape (GET /staging,
// /get_joblist, /get_stats) and the failed-callback list for `dbb rerun tape --callbacks-failed`.
import type pg from 'pg';

type Db = Pick<pg.Pool, 'query'>;
/** The live read model; the read routes pass a snapshot's schema instead for `?as_of` (gateway/as-of.ts). */
export const SCHEMA = 'projection_tape';
const iso = (d: Date | null) => (d ? new Date(d).toISOString() : null);

/** Seed shape of GET /staging: files maps name → [ready, error, readytime]. */
export interface JobStatusView {
  job_id: number;
  created: string;
  completed: boolean;
  total_files: number;
  ready_files: number;
  error_files: number;
  files: Record<string, [boolean, boolean, string | null]>;
}

export interface JobDetail {
  jobId: number; status: string; notifyUrl: string; created: string; completed: boolean; completedAt: string | null;
  totalFiles: number; readyFiles: number; errorFiles: number; returnCode: number | null; comment: string;
  /** files released from the disk cache since (DELETE /staging/files) */
  releasedFiles: number;
  callback: { status: string; attempts: number; error: string | null };
}

const detail = (r: any): JobDetail => ({
  jobId: Number(r.job_id), status: r.status, notifyUrl: r.notify_url, created: iso(r.created)!, completed: r.completed,
  completedAt: iso(r.completed_at), totalFiles: r.total_files, readyFiles: r.ready_files, errorFiles: r.error_files,
  returnCode: r.return_code, comment: r.comment, releasedFiles: r.released_files ?? 0,
  callback: { status: r.callback_status, attempts: r.callback_attempts, error: r.callback_error },
});

/** A job; null when unknown or removed (DELETE /staging). Rows of jobs cancelled before removal existed
 *  stay as CANCELLED tombstones until the next replay, so they are filtered here and below. */
export async function getJobDetail(db: Db, jobId: number, schema = SCHEMA): Promise<JobDetail | null> {
  const { rows } = await db.query(`SELECT * FROM ${schema}.jobs WHERE job_id = $1 AND status <> 'CANCELLED'`, [jobId]);
  return rows[0] ? detail(rows[0]) : null;
}

export async function getJobStatus(db: Db, jobId: number, includeFiles: boolean): Promise<JobStatusView | null> {
  const job = await getJobDetail(db, jobId);
  if (!job) return null;
  const files: JobStatusView['files'] = {};
  if (includeFiles) {
    const { rows } = await db.query('SELECT name, ready, error, readytime FROM projection_tape.files WHERE job_id = $1 ORDER BY name', [jobId]);
    for (const r of rows) files[r.name] = [r.ready, r.error, iso(r.readytime)];
  }
  return {
    job_id: job.jobId, created: job.created, completed: job.completed, total_files: job.totalFiles,
    ready_files: job.readyFiles, error_files: job.errorFiles, files,
  };
}

export async function listJobs(db: Db, schema = SCHEMA): Promise<JobDetail[]> {
  const { rows } = await db.query(`SELECT * FROM ${schema}.jobs WHERE status <> 'CANCELLED' ORDER BY job_id`);
  return rows.map(detail);
}

export interface TapeStats {
  jobs: { total: number; in_progress: number; completed: number; callbacks_failed: number };
  files: { total: number; ready: number; error: number };
  kafkad_heartbeat: string | null;
  notifications_consumed: number;
  cache: Record<string, unknown> | null;
}

export async function getStats(db: Db): Promise<TapeStats> {
  const [j, a] = await Promise.all([
    db.query(`SELECT count(*)::int AS total, count(*) FILTER (WHERE NOT completed)::int AS in_progress,
                     count(*) FILTER (WHERE completed)::int AS completed,
                     count(*) FILTER (WHERE callback_status = 'FAILED')::int AS callbacks_failed,
                     COALESCE(sum(total_files), 0)::int AS files, COALESCE(sum(ready_files), 0)::int AS ready,
                     COALESCE(sum(error_files), 0)::int AS error
              FROM projection_tape.jobs WHERE status <> 'CANCELLED'`),
    db.query(`SELECT heartbeat, notifications_consumed, cache FROM projection_tape.adapter WHERE id = 'tape'`),
  ]);
  const s = j.rows[0];
  const h = a.rows[0];
  return {
    jobs: { total: s.total, in_progress: s.in_progress, completed: s.completed, callbacks_failed: s.callbacks_failed },
    files: { total: s.files, ready: s.ready, error: s.error },
    kafkad_heartbeat: h ? iso(h.heartbeat) : null,
    notifications_consumed: h ? Number(h.notifications_consumed) : 0,
    cache: h?.cache ?? null,
  };
}

export async function listFailedCallbacks(db: Db): Promise<number[]> {
  const { rows } = await db.query(`SELECT job_id FROM projection_tape.jobs WHERE callback_status = 'FAILED' AND status <> 'CANCELLED' ORDER BY job_id`);
  return rows.map((r) => Number(r.job_id));
}

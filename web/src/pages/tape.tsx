// Tape jobs: every job with a ready/error/total progress bar; a job's detail with per-file state, the
// shell command that waits for it, cancel, and releasing its staged files from the library's disk cache.
import { useState } from 'react';
import { api, atLeast, type Who } from '../api.ts';
import { Confirm, Err, fmtTime, JobBar, usePoll } from '../hooks.tsx';
import { History } from '../history.tsx';

interface Job { jobId: number; status: string; created: string; completed: boolean; completedAt: string | null; totalFiles: number; readyFiles: number; errorFiles: number; returnCode: number | null; comment: string; releasedFiles: number; callback: { status: string; attempts: number; error: string | null } }
interface JobStatus { job_id: number; files: Record<string, [boolean, boolean, string | null]> }

function Detail({ job, who, onGone }: { job: Job; who: Who; onGone: () => void }) {
  const { data, error } = usePoll(() => api<JobStatus>(`/staging?job_id=${job.jobId}&include_files=true`), 1500, [job.jobId]);
  // one confirmation dialog for both actions (the dialog's title id is unique only once on the page)
  const [ask, setAsk] = useState<null | 'cancel' | 'release'>(null);
  const [msg, setMsg] = useState<string | null>(null);
  async function cancel() {
    setAsk(null);
    try { await api(`/staging?job_id=${job.jobId}`, { method: 'DELETE' }); setMsg(`Job ${job.jobId} cancelled`); onGone(); } catch (err) { setMsg((err as Error).message); }
  }
  async function release() {
    setAsk(null);
    try {
      const r = await api<{ released: number }>(`/staging/files?job_id=${job.jobId}`, { method: 'DELETE' });
      setMsg(`${r.released} files of job ${job.jobId} released from the disk cache`);
    } catch (err) { setMsg((err as Error).message); }
  }
  const files = Object.entries(data?.files ?? {}).sort(([a], [b]) => a.localeCompare(b));
  return (
    <section aria-labelledby="job-h" data-testid="job-detail">
      <h2 id="job-h">Job {job.jobId} <span className={`status ${job.status}`}>{job.status}</span></h2>
      <JobBar ready={job.readyFiles} error={job.errorFiles} total={job.totalFiles} label={`job ${job.jobId} detail progress`} />
      <p>Created {fmtTime(job.created)} · completed {fmtTime(job.completedAt)} · return code {job.returnCode ?? '–'} · callback {job.callback.status} ({job.callback.attempts} attempts){job.callback.error ? `: ${job.callback.error}` : ''}</p>
      {job.comment && <p className="hint">{job.comment}</p>}
      <p className="hint">Released from the disk cache: <span data-testid="released">{job.releasedFiles}</span> files · wait from a shell: <code>dbb tape wait {job.jobId}</code></p>
      {atLeast(who, 'producer') && !job.completed && <button type="button" className="danger" onClick={() => setAsk('cancel')}>Cancel job</button>}
      {atLeast(who, 'producer') && job.readyFiles > 0 && <button type="button" onClick={() => setAsk('release')}>Release files</button>}
      {msg && <p role="status">{msg}</p>}
      <Err text={error} />
      <Confirm open={ask !== null} title={ask === 'release' ? `Release the files of job ${job.jobId}?` : `Cancel job ${job.jobId}?`}
        confirmLabel={ask === 'release' ? 'Release files' : 'Cancel job'} onCancel={() => setAsk(null)} onConfirm={ask === 'release' ? release : cancel}>
        <p>{ask === 'release' ? 'The tape library drops the job\'s staged files from its disk cache; they stay on tape.' : 'The tape library is asked to cancel the batch and the job is removed.'}</p>
      </Confirm>
      <table>
        <thead><tr><th>file</th><th>state</th><th>ready at</th></tr></thead>
        <tbody>
          {files.map(([name, [ready, err, at]]) => (
            <tr key={name}><td><code>{name}</code></td><td><span className={`status ${err ? 'FAILURE' : ready ? 'SUCCESS' : 'QUEUED'}`}>{err ? 'ERROR' : ready ? 'READY' : 'STAGING'}</span></td><td>{fmtTime(at)}</td></tr>
          ))}
        </tbody>
      </table>
      <History path={`/api/v1/tape/jobs/${job.jobId}/history`} label="who did what" />
    </section>
  );
}

export function TapePage({ who }: { who: Who }) {
  const { data, error, reload } = usePoll(() => api<Job[]>('/api/v1/tape/jobs'), 1500);
  const [sel, setSel] = useState<number | null>(null);
  const jobs = [...(data ?? [])].sort((a, b) => b.created.localeCompare(a.created) || b.jobId - a.jobId);
  const job = jobs.find((j) => j.jobId === sel);
  return (
    <div className="cols">
      <section aria-labelledby="jobs-h">
        <h2 id="jobs-h">Jobs</h2>
        <Err text={error} />
        <table>
          <thead><tr><th>job</th><th>status</th><th>progress</th><th>created</th></tr></thead>
          <tbody>
            {jobs.map((j) => (
              <tr key={j.jobId} aria-selected={j.jobId === sel} data-job={j.jobId}>
                <td><button type="button" className="link" onClick={() => setSel(j.jobId)}>{j.jobId}</button></td>
                <td><span className={`status ${j.status}`}>{j.status}</span></td>
                <td className="wide"><JobBar ready={j.readyFiles} error={j.errorFiles} total={j.totalFiles} label={`job ${j.jobId} progress`} /></td>
                <td>{fmtTime(j.created)}</td>
              </tr>
            ))}
            {!jobs.length && <tr><td colSpan={4} className="hint">no jobs yet</td></tr>}
          </tbody>
        </table>
      </section>
      {job && <Detail job={job} who={who} onGone={() => { setSel(null); void reload(); }} />}
    </div>
  );
}

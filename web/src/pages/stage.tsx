// Stage data (the seed frontend's form): method from the site's allowed methods, username, path on
// storage, relative path, optional notify_url; the request's status (waiting behind the user's cap, sha256,
// notification); direct_download as a download link; the test-file tool.
import { useEffect, useState } from 'react';
import { api, ApiError, atLeast, raw, type Who } from '../api.ts';
import { Err, fmtBytes, fmtTime, usePoll } from '../hooks.tsx';
import { History } from '../history.tsx';

interface StagingRecord {
  id: string; method: string; username: string; local_path_on_storage: string; relative_path: string; status: string;
  skipped: boolean; destination: string | null; size_bytes: number | null; error_code: string | null; error_reason: string | null;
  requested_at: string; finished_at: string | null; duration_ms: number | null;
  sha256: string | null; waiting: boolean; notify_url: string | null; notify_status: 'PENDING' | 'DELIVERED' | 'FAILED' | null;
}

/** The status word, and why a QUEUED request has not started (the user's cap, docs/staging.md). */
const statusText = (r: StagingRecord) => (r.status === 'QUEUED' && r.waiting ? 'QUEUED (waiting for a slot)' : r.status);

function StageForm({ who, onDone }: { who: Who; onDone: () => void }) {
  const [methods, setMethods] = useState<string[]>([]);
  const [method, setMethod] = useState('');
  const [username, setUsername] = useState(who.name.replace(/[^A-Za-z0-9_.-]/g, '_'));
  const [src, setSrc] = useState('');
  const [dst, setDst] = useState('');
  const [notifyUrl, setNotifyUrl] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [message, setMessage] = useState<string | null>(null);
  const [requestId, setRequestId] = useState<string | null>(null);
  const [download, setDownload] = useState<{ url: string; name: string; size: number } | null>(null);
  const { data: rec } = usePoll(async () => (requestId ? api<StagingRecord>(`/api/v1/staging/requests/${requestId}`) : null), 1500, [requestId]);

  useEffect(() => {
    api<{ allowed_methods: string[] }>('/api/v1/staging/config').then((c) => { setMethods(c.allowed_methods); setMethod(c.allowed_methods[0] ?? ''); }, (e) => setError(e.message));
  }, []);

  async function submit(e: React.FormEvent) {
    e.preventDefault();
    setBusy(true); setError(null); setMessage(null); setRequestId(null);
    if (download) URL.revokeObjectURL(download.url);
    setDownload(null);
    const q = new URLSearchParams({ method, username });
    try {
      const res = await raw(`/stage_data?${q}`, { method: 'POST', json: { data: { local_path_on_storage: src, ...(method === 'direct_download' ? {} : { relative_path: dst }), ...(notifyUrl ? { notify_url: notifyUrl } : {}) } } });
      if (method === 'direct_download') {
        const name = /filename="([^"]+)"/.exec(res.headers.get('content-disposition') ?? '')?.[1] ?? src.split('/').pop() ?? 'download';
        const blob = await res.blob();
        setRequestId(res.headers.get('x-request-id'));
        setDownload({ url: URL.createObjectURL(blob), name, size: blob.size });
        setMessage(`File ready: ${name}`);
      } else {
        const body = await res.json();
        setRequestId(body.request_id);
        setMessage(body.message);
      }
    } catch (err) {
      setError((err as Error).message);
      if (err instanceof ApiError && err.body?.request_id) setRequestId(err.body.request_id);
    } finally {
      setBusy(false);
      onDone();
    }
  }

  const canStage = atLeast(who, 'producer');
  return (
    <section aria-labelledby="stage-h">
      <h2 id="stage-h">Stage a file</h2>
      {!canStage && <p className="hint">Staging needs the producer role; you can follow requests below.</p>}
      <form onSubmit={submit} className="grid" aria-label="Stage data">
        <label>Method
          <select name="method" value={method} onChange={(e) => setMethod(e.target.value)} disabled={!canStage}>
            {methods.map((m) => <option key={m} value={m}>{m}</option>)}
          </select>
        </label>
        <label>Username<input name="username" value={username} onChange={(e) => setUsername(e.target.value)} required disabled={!canStage} /></label>
        <label>Path on storage<input name="local_path_on_storage" value={src} onChange={(e) => setSrc(e.target.value)} required placeholder="File1.txt or /mnt/storage/File1.txt" disabled={!canStage} /></label>
        <label>Relative path<input name="relative_path" value={dst} onChange={(e) => setDst(e.target.value)} required={method !== 'direct_download'} disabled={!canStage || method === 'direct_download'} placeholder="File1Copy.txt" /></label>
        <label>Notify URL<input name="notify_url" type="url" value={notifyUrl} onChange={(e) => setNotifyUrl(e.target.value)} placeholder="optional: https://… gets the outcome once (signed)" disabled={!canStage} /></label>
        {canStage && <button type="submit" disabled={busy || !method}>{busy ? 'Staging…' : 'Stage'}</button>}
      </form>
      {busy && <p className="status QUEUED" role="status">QUEUED — waiting for the outcome…</p>}
      {message && <p className="ok-text" role="status">{message}</p>}
      <Err text={error} />
      {download && <p><a className="button" href={download.url} download={download.name} data-testid="download-link">Download {download.name} ({fmtBytes(download.size)})</a></p>}
      {rec && (
        <dl className="record" data-testid="request-status">
          <dt>Request</dt><dd><code>{rec.id}</code> (<a href={`#/log?cid=${rec.id}`}>follow in the live log</a>)</dd>
          <dt>Status</dt><dd><span className={`status ${rec.status}`}>{statusText(rec)}</span>{rec.skipped ? ' (already there)' : ''}</dd>
          <dt>Destination</dt><dd>{rec.destination ?? '–'}</dd>
          <dt>Size</dt><dd>{rec.size_bytes === null ? '–' : fmtBytes(rec.size_bytes)}</dd>
          <dt>Duration</dt><dd>{rec.duration_ms === null ? '–' : `${rec.duration_ms} ms`}</dd>
          <dt>SHA-256</dt><dd>{rec.sha256 ? <code data-testid="sha256">{rec.sha256}</code> : '–'}</dd>
          {rec.notify_url && <><dt>Notification</dt><dd>{rec.notify_status} to <code>{rec.notify_url}</code></dd></>}
          {rec.error_code && <><dt>Error</dt><dd className="error">{rec.error_code}: {rec.error_reason}</dd></>}
        </dl>
      )}
    </section>
  );
}

function TestFileTool() {
  const [path, setPath] = useState('test/File1.txt');
  const [content, setContent] = useState('hello from the Data Backbone console\n');
  const [result, setResult] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  async function submit(e: React.FormEvent) {
    e.preventDefault();
    setResult(null); setError(null);
    try {
      const r = await api<{ path: string; size_bytes: number }>('/api/v1/console/test-files', { method: 'POST', json: { path, content } });
      setResult(`Created ${r.path} (${fmtBytes(r.size_bytes)})`);
    } catch (err) { setError((err as Error).message); }
  }
  return (
    <section aria-labelledby="tf-h">
      <h2 id="tf-h">Create a test file <small>(operator)</small></h2>
      <form onSubmit={submit} className="grid" aria-label="Create a test file">
        <label>Path on storage<input name="test_path" value={path} onChange={(e) => setPath(e.target.value)} required /></label>
        <label className="wide">Content<textarea name="test_content" rows={3} value={content} onChange={(e) => setContent(e.target.value)} /></label>
        <button type="submit">Create file</button>
      </form>
      {result && <p className="ok-text" role="status">{result}</p>}
      <Err text={error} />
    </section>
  );
}

function RecentRequests({ tick }: { tick: number }) {
  const { data, error } = usePoll(() => api<{ requests: StagingRecord[] }>('/api/v1/staging/requests?limit=15'), 3000, [tick]);
  return (
    <section aria-labelledby="recent-h">
      <h2 id="recent-h">Recent requests</h2>
      <Err text={error} />
      <table>
        <thead><tr><th>requested</th><th>user</th><th>method</th><th>source</th><th>status</th><th>error</th><th>who did what</th></tr></thead>
        <tbody>
          {(data?.requests ?? []).map((r) => (
            <tr key={r.id}><td>{fmtTime(r.requested_at)}</td><td>{r.username}</td><td>{r.method}</td><td>{r.local_path_on_storage}</td>
              <td><span className={`status ${r.status}`}>{statusText(r)}</span></td><td>{r.error_code ?? ''}</td><td><History path={`/api/v1/staging/requests/${r.id}/history`} /></td></tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

export function StagePage({ who }: { who: Who }) {
  const [tick, setTick] = useState(0);
  return (
    <div className="cols">
      <div>
        <StageForm who={who} onDone={() => setTick((t) => t + 1)} />
        {atLeast(who, 'operator') && <TestFileTool />}
      </div>
      <RecentRequests tick={tick} />
    </div>
  );
}

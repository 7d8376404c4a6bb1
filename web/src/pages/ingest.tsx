// Ingest: files per status, the failures with their error (and where a quarantined one went), and
// "rerun selected" (operator; a quarantined file is brought back into storage first).
import { useState } from 'react';
import { api, atLeast, type Who } from '../api.ts';
import { Err, fmtTime, usePoll } from '../hooks.tsx';
import { History } from '../history.tsx';

interface File { fileId: string; relPath: string | null; status: string | null; statusAt: string | null; attempts: number; plugin: string | null; lastError: string | null; quarantinePath: string | null }

export function IngestPage({ who }: { who: Who }) {
  const { data: counts, error: e1, reload: r1 } = usePoll(() => api<Record<string, number>>('/api/v1/ingest/counts'), 3000);
  const { data: failed, error: e2, reload: r2 } = usePoll(() => api<{ files: File[] }>('/api/v1/ingest/files?status=FAILURE&limit=500'), 3000);
  const [sel, setSel] = useState<Set<string>>(new Set());
  const [msg, setMsg] = useState<string | null>(null);
  const files = failed?.files ?? [];
  const quarantined = files.filter((f) => f.quarantinePath).length;
  const toggle = (id: string) => setSel((s) => { const n = new Set(s); if (n.has(id)) n.delete(id); else n.add(id); return n; });
  async function rerun() {
    try {
      const r = await api('/api/v1/ingest/rerun', { method: 'POST', json: { status: 'FAILURE', files: [...sel], reason: `rerun from the console by ${who.name}` } });
      // the API answers with the files it actually selected: say so when that is not the selection
      setMsg(r.count === sel.size ? `Rerun requested for ${r.count} file(s)` : `Rerun requested for ${r.count} file(s), but ${sel.size} were selected: the API chose ${r.fileIds.length ? r.fileIds.join(', ') : 'none'}`);
      setSel(new Set());
    } catch (err) { setMsg((err as Error).message); }
    void r1(); void r2();
  }
  const canRerun = atLeast(who, 'operator');
  return (
    <div>
      <section aria-labelledby="counts-h">
        <h2 id="counts-h">Files per status</h2>
        <Err text={e1} />
        <ul className="counts">
          {Object.entries(counts ?? {}).map(([s, n]) => <li key={s}><span className={`status ${s}`}>{s}</span> <b>{n}</b></li>)}
          {counts && !Object.keys(counts).length && <li className="hint">no files yet</li>}
        </ul>
      </section>
      <section aria-labelledby="fail-h">
        <h2 id="fail-h">Failures</h2>
        <Err text={e2} />
        {quarantined > 0 && <p className="hint">{quarantined} of them in quarantine (a reason file beside each); a rerun brings a file back into storage first.</p>}
        {canRerun && (
          <div className="row">
            <button type="button" onClick={() => setSel(new Set(files.map((f) => f.fileId)))} disabled={!files.length}>Select all</button>
            <button type="button" onClick={rerun} disabled={!sel.size}>Rerun selected ({sel.size})</button>
          </div>
        )}
        {msg && <p role="status">{msg}</p>}
        <table>
          <thead><tr>{canRerun && <th><span className="sr">select</span></th>}<th>file</th><th>attempts</th><th>plugin</th><th>failed at</th><th>error</th><th>quarantine</th><th>who did what</th></tr></thead>
          <tbody>
            {files.map((f) => (
              <tr key={f.fileId}>
                {canRerun && <td><input type="checkbox" aria-label={`select ${f.relPath ?? f.fileId}`} checked={sel.has(f.fileId)} onChange={() => toggle(f.fileId)} /></td>}
                <td><code>{f.relPath ?? f.fileId}</code></td><td>{f.attempts}</td><td>{f.plugin ?? ''}</td><td>{fmtTime(f.statusAt)}</td><td className="error">{f.lastError ?? ''}</td>
                <td>{f.quarantinePath ? <code title={`${f.quarantinePath}.reason.json`}>{f.quarantinePath}</code> : ''}</td>
                <td><History path={`/api/v1/ingest/files/${encodeURIComponent(f.fileId)}/history`} /></td>
              </tr>
            ))}
            {!files.length && <tr><td colSpan={8} className="hint">no failures</td></tr>}
          </tbody>
        </table>
      </section>
    </div>
  );
}

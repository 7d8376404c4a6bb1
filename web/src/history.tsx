// Who did what, per row (issue 21.3, docs/history.md): a disclosure that loads an entity's events from
// GET /api/v1/<domain>/<entity>/{id}/history when opened: time, actor (token name), event, outcome.
import { useState } from 'react';
import { api, ApiError } from './api.ts';
import { Err, fmtTime } from './hooks.tsx';

export interface HistoryEntry { at: string; actor: string | null; event: string; outcome: 'REQUESTED' | 'DONE' | 'FAILED' | 'REFUSED'; detail: string | null; correlationId: string | null }

const STATUS_CLASS = { REQUESTED: 'QUEUED', DONE: 'SUCCESS', FAILED: 'FAILURE', REFUSED: 'FAILURE' } as const;

/** `path`: the entity's history route, e.g. `/api/v1/staging/requests/${id}/history`. */
export function History({ path, label = 'history' }: { path: string; label?: string }) {
  const [events, setEvents] = useState<HistoryEntry[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  async function load() {
    try {
      setEvents((await api<{ events: HistoryEntry[] }>(path)).events);
      setError(null);
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) { setEvents([]); setError(null); } else setError((err as Error).message);
    }
  }
  return (
    <details className="history" onToggle={(e) => { if ((e.currentTarget as HTMLDetailsElement).open) void load(); }}>
      <summary>{label}</summary>
      <Err text={error} />
      {events && (
        <table className="history">
          <thead><tr><th>time</th><th>who</th><th>event</th><th>outcome</th></tr></thead>
          <tbody>
            {events.map((e, i) => (
              <tr key={i}><td>{fmtTime(e.at)}</td><td>{e.actor ?? <span className="hint">system</span>}</td><td>{e.event}</td>
                <td><span className={`status ${STATUS_CLASS[e.outcome]}`}>{e.outcome}</span>{e.detail ? ` ${e.detail}` : ''}</td></tr>
            ))}
            {!events.length && <tr><td colSpan={4} className="hint">no events recorded yet</td></tr>}
          </tbody>
        </table>
      )}
    </details>
  );
}

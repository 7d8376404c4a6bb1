// Ops (operator): consumer lag per group, dead letters per .dlq topic with the last ones, replay progress.
import { useState } from 'react';
import { api, atLeast, type Who } from '../api.ts';
import { Err, usePoll } from '../hooks.tsx';

interface Letter { partition: number; offset: string; timestamp: string; key: string | null; headers: Record<string, string>; bytes: number }

function LastLetters({ topic }: { topic: string }) {
  const [letters, setLetters] = useState<Letter[] | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  async function load() {
    setBusy(true); setError(null);
    try { setLetters((await api<{ letters: Letter[] }>(`/api/v1/ops/dlq/last?${new URLSearchParams({ topic, limit: '5' })}`)).letters); } catch (err) { setError((err as Error).message); }
    setBusy(false);
  }
  return (
    <>
      <button type="button" onClick={load} disabled={busy}>{busy ? 'Reading…' : 'Show last'}</button>
      <Err text={error} />
      {letters && (
        <ul className="letters">
          {letters.map((l) => (
            <li key={`${l.partition}:${l.offset}`}><small>{new Date(l.timestamp).toLocaleString()} · p{l.partition}@{l.offset} · key {l.key ?? '–'} · {l.bytes} B</small>
              <pre>{Object.entries(l.headers).map(([k, v]) => `${k}: ${v}`).join('\n')}</pre></li>
          ))}
          {!letters.length && <li className="hint">none</li>}
        </ul>
      )}
    </>
  );
}

export function OpsPage({ who }: { who: Who }) {
  if (!atLeast(who, 'operator')) return <p className="hint">The ops views need the operator role.</p>;
  return <Ops />;
}

function Ops() {
  const lag = usePoll(() => api<{ groups: { group: string; lag: number }[] }>('/api/v1/ops/lag'), 5000);
  const dlq = usePoll(() => api<{ topics: { topic: string; events: number }[] }>('/api/v1/ops/dlq'), 5000);
  const rep = usePoll(() => api<{ replays: { projection: string; done: number; total: number }[] }>('/api/v1/ops/replays'), 2000);
  const ready = usePoll(() => api<{ status: string; domains: Record<string, string> }>('/readyz'), 5000);
  return (
    <div className="cols">
      <section aria-labelledby="lag-h">
        <h2 id="domains-h">Domains</h2>
        <Err text={ready.error} />
        <table aria-labelledby="domains-h">
          <thead><tr><th>domain</th><th>state</th></tr></thead>
          <tbody>
            {Object.entries(ready.data?.domains ?? {}).map(([name, state]) => (
              <tr key={name}><td>{name}</td><td className={state === 'up' ? '' : 'error'}>{state === 'up' ? 'up' : `unavailable: ${state}`}</td></tr>
            ))}
            {!ready.data && !ready.error && <tr><td colSpan={2} className="hint">loading…</td></tr>}
          </tbody>
        </table>
        <h2 id="lag-h">Consumer lag</h2>
        <Err text={lag.error} />
        <table>
          <thead><tr><th>group</th><th>lag (events)</th></tr></thead>
          <tbody>
            {(lag.data?.groups ?? []).map((g) => <tr key={g.group}><td>{g.group}</td><td className={g.lag ? 'warn' : ''}>{g.lag}</td></tr>)}
            {lag.data && !lag.data.groups.length && <tr><td colSpan={2} className="hint">no consumer groups</td></tr>}
            {!lag.data && !lag.error && <tr><td colSpan={2} className="hint">loading…</td></tr>}
          </tbody>
        </table>
        <h2>Replays</h2>
        <Err text={rep.error} />
        <ul>
          {(rep.data?.replays ?? []).map((r) => (
            <li key={r.projection}>{r.projection}: <progress max={r.total || 1} value={r.done} /> {r.done} / {r.total}</li>
          ))}
          {rep.data && !rep.data.replays.length && <li className="hint">no replay running</li>}
        </ul>
      </section>
      <section aria-labelledby="dlq-h">
        <h2 id="dlq-h">Dead letters</h2>
        <Err text={dlq.error} />
        <table>
          <thead><tr><th>topic</th><th>events</th><th>last</th></tr></thead>
          <tbody>
            {(dlq.data?.topics ?? []).map((t) => <tr key={t.topic}><td>{t.topic}</td><td className={t.events ? 'error' : ''}>{t.events}</td><td>{t.events > 0 && <LastLetters topic={t.topic} />}</td></tr>)}
            {!dlq.data && !dlq.error && <tr><td colSpan={3} className="hint">loading…</td></tr>}
          </tbody>
        </table>
      </section>
    </div>
  );
}

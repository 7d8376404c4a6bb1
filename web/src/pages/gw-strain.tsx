// Read strain back (issue 20): pick [t0, t1) (or an archived batch's span), GET .../strain, plot the samples
// with the gaps shaded, and show the same request for curl / Python.
import { useState } from 'react';
import { api } from '../api.ts';
import { Err, usePoll } from '../hooks.tsx';

interface Archive { batch: string; n_f: number; samples: number; t0: number; t1: number; dt: number; mixedDt: boolean }
interface Strain { t0: number; dt: number; n: number; h: (number | null)[]; gaps: [number, number][] }

/** At most ~1000 points drawn: each pixel column shows the min and max of its samples, so peaks stay visible. */
function StrainChart({ s }: { s: Strain }) {
  const W = 640, H = 180, P = 40;
  const vals = s.h.filter((v): v is number => v !== null);
  if (!s.n) return <p className="hint">No sample in this range.</p>;
  const lo = vals.length ? Math.min(...vals) : -1, hi = vals.length ? Math.max(...vals) : 1;
  const x = (i: number) => P + ((W - 1.5 * P) * i) / s.n;
  const y = (v: number) => H - P / 2 - ((H - P) * (v - lo)) / (hi - lo || 1);
  const cols = Math.min(s.n, 1000);
  let d = '';
  let pen = false;
  for (let c = 0; c < cols; c++) {
    const a = Math.floor((c * s.n) / cols), b = Math.max(a + 1, Math.floor(((c + 1) * s.n) / cols));
    const seg = s.h.slice(a, b).filter((v): v is number => v !== null);
    if (!seg.length) { pen = false; continue; }
    const mn = Math.min(...seg), mx = Math.max(...seg);
    d += `${pen ? 'L' : 'M'}${x(a).toFixed(1)},${y(mn).toFixed(1)} L${x(a).toFixed(1)},${y(mx).toFixed(1)} `;
    pen = true;
  }
  return (
    <svg viewBox={`0 0 ${W} ${H}`} className="chart" role="img" aria-label={`strain, ${s.n} samples, ${s.gaps.length} gaps`}>
      {s.gaps.map(([a, b]) => <rect key={a} x={x(a)} y={P / 2} width={Math.max(1, x(b) - x(a))} height={H - P} fill="#fbdcd9" data-testid="gap" />)}
      <line x1={P} y1={H - P / 2} x2={W - P / 2} y2={H - P / 2} className="axis" />
      <text x={4} y={P / 2 + 4}>{hi.toExponential(2)}</text><text x={4} y={H - P / 2}>{lo.toExponential(2)}</text>
      <text x={P} y={H - 2}>{s.t0}</text><text x={W - P / 2} y={H - 2} textAnchor="end">{(s.t0 + s.n * s.dt).toFixed(4)}</text>
      <path d={d} className="line" style={{ strokeWidth: 1 }} />
    </svg>
  );
}

export function StrainViewer({ id }: { id: string }) {
  const base = `/api/v1/gw/datastores/${encodeURIComponent(id)}`;
  const { data: arch } = usePoll(() => api<{ archives: Archive[] }>(`${base}/archives`), 10000, [id]);
  const [t0, setT0] = useState('');
  const [t1, setT1] = useState('');
  const [s, setS] = useState<Strain | null>(null);
  const [error, setError] = useState<string | null>(null);
  async function read(a = t0, b = t1) {
    setError(null);
    try { setS(await api<Strain>(`${base}/strain?t0=${encodeURIComponent(a)}&t1=${encodeURIComponent(b)}`)); } catch (err) { setS(null); setError((err as Error).message); }
  }
  const missing = s ? s.gaps.reduce((n, [a, b]) => n + b - a, 0) : 0;
  return (
    <section aria-labelledby="strain-h" data-testid="strain">
      <h3 id="strain-h">Read strain back</h3>
      <p className="hint">Exactly the samples of [t0, t1), from the buffer and the archived batches; missing stretches are gaps (null in JSON, NaN in octet-stream).</p>
      <form className="filters" onSubmit={(e) => { e.preventDefault(); void read(); }}>
        <label>t0 (GPS s)<input value={t0} onChange={(e) => setT0(e.target.value)} inputMode="decimal" required /></label>
        <label>t1 (GPS s)<input value={t1} onChange={(e) => setT1(e.target.value)} inputMode="decimal" required /></label>
        <button type="submit">Read</button>
      </form>
      {!!arch?.archives.length && (
        <table>
          <thead><tr><th>archived batch</th><th>files</th><th>samples</th><th>t0</th><th>t1</th><th /></tr></thead>
          <tbody>
            {arch.archives.map((a) => (
              <tr key={a.batch}><td><code>{a.batch}</code></td><td>{a.n_f}</td><td>{a.samples}</td><td>{a.t0}</td><td>{a.t1}</td>
                <td><button type="button" className="link" onClick={() => { setT0(String(a.t0)); setT1(String(a.t1)); void read(String(a.t0), String(a.t1)); }}>read</button></td></tr>
            ))}
          </tbody>
        </table>
      )}
      <Err text={error} />
      {s && (
        <>
          <p role="status">{s.n} samples from {s.t0} at dt={s.dt} s · <b data-testid="gap-count">{s.gaps.length}</b> gaps ({missing} samples missing)</p>
          <StrainChart s={s} />
          <p className="hint">Same read: <code>curl -H "Authorization: Bearer $TOKEN" "{location.origin}{base}/strain?t0={t0}&t1={t1}&format=octet" -D -</code> · Python: <code>np.frombuffer(body, "&lt;f8")</code></p>
        </>
      )}
    </section>
  );
}

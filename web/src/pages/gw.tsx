// GW datastores: status (OPERATIONAL/FROZEN), n_itm, buff_size, bytes over time, freeze/flush history;
// train (freeze) and cleanbuf (flush) with a confirmation, operator role only; strain read back by time range.
import { useState } from 'react';
import { api, atLeast, getToken, type Who } from '../api.ts';
import { Confirm, Err, fmtBytes, fmtTime, usePoll } from '../hooks.tsx';
import { StrainViewer } from './gw-strain.tsx';

interface Ds { id: string; dstatus: 'OPERATIONAL' | 'FROZEN'; n_itm: number; buff_size: number }
interface Entry { offset: number; event: string; occurredAt: string; actor: string | null; body: Record<string, any> }

/** buff_size after each stored chunk, dropping to 0 at each flush. */
function BytesChart({ log }: { log: Entry[] }) {
  const pts = log.flatMap((e) => (e.event === 'GwChunkStored' ? [{ t: Date.parse(e.occurredAt), y: Number(e.body.buffSize) }]
    : e.event === 'BufferFlushed' ? [{ t: Date.parse(e.occurredAt), y: 0 }] : []));
  if (pts.length < 1) return <p className="hint">No chunks stored yet.</p>;
  const W = 640, H = 180, P = 40;
  const frozen = log.filter((e) => e.event === 'BufferFrozen').map((e) => Date.parse(e.occurredAt)).filter((t) => t >= pts[0].t);
  const t0 = pts[0].t, t1 = Math.max(pts[pts.length - 1].t, ...frozen, t0 + 1);
  const ymax = Math.max(1, ...pts.map((p) => p.y));
  const x = (t: number) => P + ((W - 2 * P) * (t - t0)) / (t1 - t0);
  const y = (v: number) => H - P / 2 - ((H - P) * v) / ymax;
  // a step line: the buffer holds its bytes until the next chunk or flush
  const d = pts.map((p, i) => `${i ? `H${x(p.t).toFixed(1)}V` : `M${x(p.t).toFixed(1)},`}${y(p.y).toFixed(1)}`).join(' ') + ` H${x(t1).toFixed(1)}`;
  return (
    <svg viewBox={`0 0 ${W} ${H}`} className="chart" role="img" aria-label={`bytes in the buffer over time, up to ${fmtBytes(ymax)}`}>
      <line x1={P} y1={H - P / 2} x2={W - P / 2} y2={H - P / 2} className="axis" />
      <line x1={P} y1={P / 2} x2={P} y2={H - P / 2} className="axis" />
      <text x={4} y={P / 2 + 4}>{fmtBytes(ymax)}</text><text x={4} y={H - P / 2}>0</text>
      <text x={P} y={H - 2}>{new Date(t0).toLocaleTimeString()}</text>
      <text x={W - P / 2} y={H - 2} textAnchor="end">{new Date(t1).toLocaleTimeString()}</text>
      {frozen.map((t) => <g key={t}><line x1={x(t)} x2={x(t)} y1={P / 2} y2={H - P / 2} className="frozen" /><text x={x(t) - 3} y={P / 2 + 10} textAnchor="end">frozen</text></g>)}
      <path d={d} className="line" />
      {pts.map((p, i) => <circle key={i} cx={x(p.t)} cy={y(p.y)} r={2.5} />)}
    </svg>
  );
}

function Datastore({ id, who }: { id: string; who: Who }) {
  const base = `/api/v1/gw/datastores/${encodeURIComponent(id)}`;
  const { data: desc, reload: reloadDesc } = usePoll(() => api(`${base}/desc`), 2000, [id]);
  const { data: stats, reload: reloadStats } = usePoll(() => api<{ n_itm: number; buff_size: number }>(`${base}/stats`), 2000, [id]);
  const { data: hist, reload: reloadHist } = usePoll(() => api<{ log: Entry[] }>(`${base}/history?limit=2000`), 3000, [id]);
  const [ask, setAsk] = useState<'train' | 'cleanbuf' | null>(null);
  const [result, setResult] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  async function run(what: 'train' | 'cleanbuf') {
    setAsk(null); setResult(null); setError(null);
    try {
      const r = what === 'train'
        ? await api(`${base}/train`, { method: 'POST', json: { user: who.name, token: getToken() } })
        : await api(`${base}/cleanbuf`, { method: 'POST', json: { msg: `flushed from the console by ${who.name}` } });
      setResult(what === 'train' ? (r.resp === 'FROZEN' ? `Frozen: ${r.n_f} files, ${fmtBytes(r.bt_wrt)}` : 'WAITING: not yet MAX_SIZE bytes') : r.msg);
    } catch (err) { setError((err as Error).message); }
    void reloadDesc(); void reloadStats(); void reloadHist();
  }
  const log = hist?.log ?? [];
  const events = log.filter((e) => ['BufferFrozen', 'BufferFlushed', 'TrainDeferred'].includes(e.event)).reverse();
  return (
    <section aria-labelledby="ds-h" data-testid="datastore">
      <h2 id="ds-h">Datastore <code>{id}</code>: <span className={`status ${desc?.dstatus ?? ''}`} data-testid="dstatus">{desc?.dstatus ?? '…'}</span></h2>
      <p>Files: <b data-testid="n_itm">{stats?.n_itm ?? '…'}</b> · bytes: <b data-testid="buff_size">{stats?.buff_size ?? '…'}</b>
        {stats ? ` (${fmtBytes(stats.buff_size)})` : ''}{desc?.dstatus === 'FROZEN' ? ` · frozen by: ${desc.user || '–'}` : ''} · last archive: <code>{desc?.last_archive ?? '–'}</code></p>
      {atLeast(who, 'operator') && (
        <div className="row">
          <button type="button" onClick={() => setAsk('train')} disabled={desc?.dstatus === 'FROZEN'}>Freeze (train)</button>
          <button type="button" onClick={() => setAsk('cleanbuf')} className="danger">Flush (cleanbuf)</button>
        </div>
      )}
      {result && <p className="ok-text" role="status">{result}</p>}
      <Err text={error} />
      <Confirm open={ask !== null} title={ask === 'train' ? `Freeze datastore ${id}?` : `Flush datastore ${id}?`}
        confirmLabel={ask === 'train' ? 'Freeze' : 'Flush'} onCancel={() => setAsk(null)} onConfirm={() => ask && run(ask)}>
        {ask === 'train' ? <p>Chunks sent after this are refused until the datastore is flushed.</p>
          : <p>Archives the {stats?.n_itm ?? ''} stored files, resets the counters and unfreezes.</p>}
      </Confirm>
      <h3>Bytes over time</h3>
      <BytesChart log={log} />
      <h3>Freeze / flush history</h3>
      <table>
        <thead><tr><th>time</th><th>event</th><th>by</th><th>files</th><th>bytes</th><th>archive</th></tr></thead>
        <tbody>
          {events.map((e) => (
            <tr key={e.offset}><td>{fmtTime(e.occurredAt)}</td><td>{e.event}</td><td>{e.actor ?? e.body.user ?? ''}</td>
              <td>{e.body.n_f ?? ''}</td><td>{e.body.bt_wrt ?? ''}</td><td><code>{e.body.archivePath ?? ''}</code></td></tr>
          ))}
          {!events.length && <tr><td colSpan={6} className="hint">none yet</td></tr>}
        </tbody>
      </table>
      <StrainViewer id={id} />
    </section>
  );
}

export function GwPage({ who }: { who: Who }) {
  const { data, error } = usePoll(() => api<{ datastores: Ds[] }>('/api/v1/gw/datastores'), 3000);
  const [sel, setSel] = useState<string | null>(null);
  const list = data?.datastores ?? [];
  const current = sel ?? list[0]?.id ?? null;
  return (
    <div className="cols narrow-first">
      <section aria-labelledby="dsl-h">
        <h2 id="dsl-h">Datastores</h2>
        <Err text={error} />
        <table>
          <thead><tr><th>id</th><th>status</th><th>n_itm</th><th>buff_size</th></tr></thead>
          <tbody>
            {list.map((d) => (
              <tr key={d.id} aria-selected={d.id === current}>
                <td><button type="button" className="link" onClick={() => setSel(d.id)}>{d.id}</button></td>
                <td><span className={`status ${d.dstatus}`}>{d.dstatus}</span></td><td>{d.n_itm}</td><td>{fmtBytes(d.buff_size)}</td>
              </tr>
            ))}
            {!list.length && <tr><td colSpan={4} className="hint">no datastore has received data yet</td></tr>}
          </tbody>
        </table>
      </section>
      {current && <Datastore key={current} id={current} who={who} />}
    </div>
  );
}

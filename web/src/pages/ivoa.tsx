// IVOA: a small ObsCore search (Simple Cone Search + filters on the results), the results on a sky plot
// (tangent plane around the cone centre), each row's DataLink replicas (nearest first).
import { useState } from 'react';
import { parseVoTable, raw, type Who } from '../api.ts';
import { Err } from '../hooks.tsx';

type Row = Record<string, string>;

function SkyPlot({ rows, ra0, dec0, sr, hover }: { rows: Row[]; ra0: number; dec0: number; sr: number; hover: string | null }) {
  const S = 320, R = S / 2 - 16;
  const rad = Math.PI / 180;
  const proj = (ra: number, dec: number) => {
    // gnomonic projection, x grows to the east (left on the sky, as astronomers draw it)
    const c = Math.sin(dec0 * rad) * Math.sin(dec * rad) + Math.cos(dec0 * rad) * Math.cos(dec * rad) * Math.cos((ra - ra0) * rad);
    const x = (Math.cos(dec * rad) * Math.sin((ra - ra0) * rad)) / c / rad;
    const y = (Math.cos(dec0 * rad) * Math.sin(dec * rad) - Math.sin(dec0 * rad) * Math.cos(dec * rad) * Math.cos((ra - ra0) * rad)) / c / rad;
    return { x: S / 2 - (x / sr) * R, y: S / 2 - (y / sr) * R };
  };
  return (
    <svg viewBox={`0 0 ${S} ${S}`} className="sky" role="img" aria-label={`${rows.length} results around RA ${ra0}, Dec ${dec0}, radius ${sr} deg`}>
      <circle cx={S / 2} cy={S / 2} r={R} className="cone" />
      <line x1={S / 2} y1={8} x2={S / 2} y2={S - 8} className="axis" /><line x1={8} y1={S / 2} x2={S - 8} y2={S / 2} className="axis" />
      <text x={S / 2 + 4} y={14}>N</text><text x={6} y={S / 2 - 4}>E</text>
      {rows.map((r) => {
        const p = proj(Number(r.s_ra), Number(r.s_dec));
        return <circle key={r.obs_publisher_did} cx={p.x} cy={p.y} r={r.obs_publisher_did === hover ? 6 : 4} className={r.obs_publisher_did === hover ? 'pt hot' : 'pt'}><title>{r.obs_publisher_did}</title></circle>;
      })}
    </svg>
  );
}

function Replicas({ did }: { did: string }) {
  const [rows, setRows] = useState<Row[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  async function load() {
    setError(null);
    try {
      const t = parseVoTable(await (await raw(`/datalink?${new URLSearchParams({ ID: did })}`)).text());
      if (t.error) setError(t.error); else setRows(t.rows);
    } catch (err) { setError((err as Error).message); }
  }
  if (!rows) return <><button type="button" onClick={load}>Replicas</button><Err text={error} /></>;
  return (
    <ul className="replicas">
      {rows.map((r, i) => <li key={i}>{r.access_url ? <a href={r.access_url}>{r.access_url}</a> : <span className="error">{r.error_message}</span>} <small>{r.description}</small></li>)}
    </ul>
  );
}

export function IvoaPage(_props: { who: Who }) {
  const [ra, setRa] = useState('180');
  const [dec, setDec] = useState('0');
  const [sr, setSr] = useState('5');
  const [type, setType] = useState('');
  const [collection, setCollection] = useState('');
  const [calib, setCalib] = useState('');
  const [rows, setRows] = useState<Row[] | null>(null);
  const [center, setCenter] = useState({ ra: 180, dec: 0, sr: 5 });
  const [error, setError] = useState<string | null>(null);
  const [hover, setHover] = useState<string | null>(null);
  async function search(e: React.FormEvent) {
    e.preventDefault();
    setError(null);
    try {
      const xml = await (await raw(`/scs?${new URLSearchParams({ RA: ra, DEC: dec, SR: sr, VERB: '2' })}`)).text();
      const t = parseVoTable(xml);
      if (t.error) { setError(t.error); setRows([]); return; }
      setCenter({ ra: Number(ra), dec: Number(dec), sr: Number(sr) });
      setRows(t.rows);
    } catch (err) { setError((err as Error).message); }
  }
  const shown = (rows ?? []).filter((r) => (!type || r.dataproduct_type === type) && (!collection || r.obs_collection.includes(collection)) && (!calib || r.calib_level === calib));
  const types = [...new Set((rows ?? []).map((r) => r.dataproduct_type).filter(Boolean))];
  return (
    <div>
      <form className="filters" onSubmit={search} aria-label="Cone search">
        <label>RA (deg)<input name="ra" value={ra} onChange={(e) => setRa(e.target.value)} inputMode="decimal" size={8} required /></label>
        <label>Dec (deg)<input name="dec" value={dec} onChange={(e) => setDec(e.target.value)} inputMode="decimal" size={8} required /></label>
        <label>Radius (deg)<input name="sr" value={sr} onChange={(e) => setSr(e.target.value)} inputMode="decimal" size={6} required /></label>
        <label>Product type<select name="type" value={type} onChange={(e) => setType(e.target.value)}><option value="">any</option>{types.map((t) => <option key={t}>{t}</option>)}</select></label>
        <label>Collection<input name="collection" value={collection} onChange={(e) => setCollection(e.target.value)} size={10} /></label>
        <label>Calib level<select name="calib" value={calib} onChange={(e) => setCalib(e.target.value)}><option value="">any</option>{['0', '1', '2', '3', '4'].map((c) => <option key={c}>{c}</option>)}</select></label>
        <button type="submit">Search</button>
      </form>
      <Err text={error} />
      {rows && (
        <div className="cols narrow-first">
          <figure className="skyfig">
            <SkyPlot rows={shown} ra0={center.ra} dec0={center.dec} sr={center.sr} hover={hover} />
            <figcaption className="hint">Cone around RA {center.ra}°, Dec {center.dec}°, radius {center.sr}° (north up, east left); the row under the pointer or focus is blue.</figcaption>
          </figure>
          <section aria-label="Results">
            <p className="hint">{shown.length} of {rows.length} results</p>
            <div className="scroll" tabIndex={0} aria-label="Result rows">
            <table>
              <thead><tr><th>DID</th><th>RA</th><th>Dec</th><th>type</th><th>collection</th><th>target</th><th>dist (deg)</th><th>DataLink</th></tr></thead>
              <tbody>
                {shown.map((r) => (
                  <tr key={r.obs_publisher_did} onMouseEnter={() => setHover(r.obs_publisher_did)} onFocus={() => setHover(r.obs_publisher_did)}>
                    <td className="nowrap"><code>{r.rucio_did_scope}:{r.rucio_did_name}</code></td><td>{Number(r.s_ra).toFixed(4)}</td><td>{Number(r.s_dec).toFixed(4)}</td>
                    <td>{r.dataproduct_type}</td><td>{r.obs_collection}</td><td>{r.target_name}</td><td>{Number(r._r).toFixed(3)}</td>
                    <td><Replicas did={r.obs_publisher_did} /></td>
                  </tr>
                ))}
              </tbody>
            </table>
            </div>
          </section>
        </div>
      )}
    </div>
  );
}

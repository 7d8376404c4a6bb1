// Live log (the seed's log viewer over every domain): events from GET /api/v1/events/stream, filtered by
// level, domain, user and correlation id; pause/resume; click a correlation id to follow one request.
import { useEffect, useMemo, useRef, useState } from 'react';
import { streamEvents, type StreamEvent, type Who } from '../api.ts';

const MAX = 2000; // events kept in the view
const DOMAINS = ['gw', 'staging', 'tape', 'ingest', 'ivoa'];
const LEVELS = { ALL: 0, INFO: 1, WARN: 2, ERROR: 3 } as const;
/** Periodic housekeeping events (the tape processor's timeout tick): hidden unless asked for, so they do not drown the log. */
const TICK = /TimeoutChecked$/;

function summary(e: StreamEvent): string {
  const b = e.body;
  const pick = ['status', 'method', 'localPathOnStorage', 'destination', 'code', 'reason', 'datastoreId', 'fileName', 'buffSize', 'n_f', 'archivePath', 'jobId', 'readyFiles', 'errorFiles', 'returnCode', 'relPath', 'error'];
  return pick.filter((k) => b[k] !== undefined && b[k] !== null && b[k] !== '').map((k) => `${k}=${typeof b[k] === 'object' ? JSON.stringify(b[k]) : String(b[k])}`).join(' ');
}

export function LogPage(_props: { who: Who }) {
  const initialCid = new URLSearchParams(window.location.hash.split('?')[1] ?? '').get('cid') ?? '';
  const [events, setEvents] = useState<StreamEvent[]>([]);
  const [held, setHeld] = useState<StreamEvent[]>([]);
  const [paused, setPaused] = useState(false);
  const [state, setState] = useState('connecting');
  const [level, setLevel] = useState<keyof typeof LEVELS>('ALL');
  const [domain, setDomain] = useState('');
  const [user, setUser] = useState('');
  const [cid, setCid] = useState(initialCid);
  const [ticks, setTicks] = useState(false);
  const pausedRef = useRef(paused);
  pausedRef.current = paused;
  const ticksRef = useRef(ticks);
  ticksRef.current = ticks;

  useEffect(() => {
    const ctl = new AbortController();
    void streamEvents('', ctl.signal, (e) => {
      if (!ticksRef.current && TICK.test(e.event)) return;
      if (pausedRef.current) setHeld((h) => [e, ...h].slice(0, MAX));
      else setEvents((list) => [e, ...list].slice(0, MAX));
    }, setState);
    return () => ctl.abort();
  }, []);

  function toggle() {
    if (paused) { setEvents((list) => [...held, ...list].slice(0, MAX)); setHeld([]); }
    setPaused(!paused);
  }

  const shown = useMemo(() => events.filter((e) => LEVELS[e.level] >= LEVELS[level]
    && (!domain || e.domain === domain)
    && (!user || (e.user ?? '').includes(user) || (e.actor ?? '').includes(user))
    && (!cid || e.correlationId === cid)), [events, level, domain, user, cid]);

  return (
    <section aria-label="Live log">
      <form className="filters" onSubmit={(e) => e.preventDefault()} aria-label="Filters">
        <label>Level<select name="level" value={level} onChange={(e) => setLevel(e.target.value as keyof typeof LEVELS)}>
          {Object.keys(LEVELS).map((l) => <option key={l} value={l}>{l === 'ALL' ? 'all' : `${l} and above`}</option>)}
        </select></label>
        <label>Domain<select name="domain" value={domain} onChange={(e) => setDomain(e.target.value)}>
          <option value="">all</option>{DOMAINS.map((d) => <option key={d} value={d}>{d}</option>)}
        </select></label>
        <label>User<input name="user" value={user} onChange={(e) => setUser(e.target.value)} /></label>
        <label>Correlation id<input name="correlationId" value={cid} onChange={(e) => setCid(e.target.value.trim())} size={38} /></label>
        {cid && <button type="button" onClick={() => setCid('')}>Stop following</button>}
        <label className="check"><input type="checkbox" checked={ticks} onChange={(e) => setTicks(e.target.checked)} /> housekeeping ticks</label>
        <button type="button" onClick={toggle} aria-pressed={paused}>{paused ? `Resume (${held.length} new)` : 'Pause'}</button>
        <button type="button" onClick={() => { setEvents([]); setHeld([]); }}>Clear</button>
        <span className={`conn ${state === 'open' ? 'up' : 'down'}`} role="status" data-testid="stream-state">{state === 'open' ? 'live' : state}</span>
      </form>
      <p className="hint">{shown.length} of {events.length} events shown{cid ? ` · following ${cid}` : ''}</p>
      <div className="logview" role="log" aria-live="off" tabIndex={0} data-testid="log">
        <table className="fixed">
          <colgroup><col style={{ width: '7rem' }} /><col style={{ width: '4.5rem' }} /><col style={{ width: '5rem' }} /><col style={{ width: '15rem' }} /><col style={{ width: '8rem' }} /><col style={{ width: '7rem' }} /><col /></colgroup>
          <thead><tr><th>time</th><th>level</th><th>domain</th><th>event</th><th>user</th><th>corr. id</th><th>details</th></tr></thead>
          <tbody>
            {shown.map((e) => (
              <tr key={e.eventId} className={`lvl-${e.level}`} data-event={e.event} data-cid={e.correlationId}>
                <td>{new Date(e.occurredAt).toLocaleTimeString()}</td><td>{e.level}</td><td>{e.domain}</td><td>{e.event}</td>
                <td>{e.user ?? ''}</td>
                <td><button type="button" className="link" title="Follow this request across domains" onClick={() => setCid(e.correlationId)}>{e.correlationId.slice(0, 8)}</button></td>
                <td className="details">{summary(e)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}

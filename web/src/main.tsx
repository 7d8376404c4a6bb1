// The console shell: login with a bearer token (kept in sessionStorage, never in a URL), whoami for the
// role, hash routes for the pages. Every page uses only the public HTTP API (api.ts).
import { StrictMode, useEffect, useState } from 'react';
import { createRoot } from 'react-dom/client';
import { setToken, whoami, getToken, type Who } from './api.ts';
import { StagePage } from './pages/stage.tsx';
import { LogPage } from './pages/log.tsx';
import { GwPage } from './pages/gw.tsx';
import { TapePage } from './pages/tape.tsx';
import { IngestPage } from './pages/ingest.tsx';
import { IvoaPage } from './pages/ivoa.tsx';
import { OpsPage } from './pages/ops.tsx';
import './style.css';

const PAGES = [
  { path: 'stage', title: 'Stage data', el: (w: Who) => <StagePage who={w} /> },
  { path: 'log', title: 'Live log', el: (w: Who) => <LogPage who={w} /> },
  { path: 'gw', title: 'GW datastores', el: (w: Who) => <GwPage who={w} /> },
  { path: 'tape', title: 'Tape jobs', el: (w: Who) => <TapePage who={w} /> },
  { path: 'ingest', title: 'Ingest', el: (w: Who) => <IngestPage who={w} /> },
  { path: 'ivoa', title: 'IVOA', el: (w: Who) => <IvoaPage who={w} /> },
  { path: 'ops', title: 'Ops', el: (w: Who) => <OpsPage who={w} /> },
];

const route = () => window.location.hash.replace(/^#\/?/, '').split('?')[0] || 'stage';

function Login({ onLogin }: { onLogin: (w: Who) => void }) {
  const [value, setValue] = useState('');
  const [error, setError] = useState<string | null>(null);
  async function submit(e: React.FormEvent) {
    e.preventDefault();
    setToken(value.trim());
    try { onLogin(await whoami()); } catch (err) { setToken(null); setError((err as Error).message); }
  }
  return (
    <main className="login">
      <h1>Data Backbone</h1>
      <form onSubmit={submit} aria-label="Log in">
        <label>Bearer token
          <input type="password" name="token" autoComplete="off" autoFocus value={value} onChange={(e) => setValue(e.target.value)} required />
        </label>
        <button type="submit">Log in</button>
        {error && <p className="error" role="alert">{error}</p>}
        <p className="hint">The token is kept in this tab only (sessionStorage) and sent in the Authorization header.</p>
      </form>
    </main>
  );
}

function App() {
  const [who, setWho] = useState<Who | null>(null);
  const [checking, setChecking] = useState(!!getToken());
  const [page, setPage] = useState(route());
  useEffect(() => {
    const on = () => setPage(route());
    window.addEventListener('hashchange', on);
    return () => window.removeEventListener('hashchange', on);
  }, []);
  useEffect(() => {
    if (!getToken()) return;
    whoami().then(setWho, () => setToken(null)).finally(() => setChecking(false));
  }, []);
  if (checking) return <p className="hint">Checking the token…</p>;
  if (!who) return <Login onLogin={setWho} />;
  const current = PAGES.find((p) => p.path === page) ?? PAGES[0];
  return (
    <div className="shell">
      <header>
        <strong>Data Backbone</strong>
        <nav aria-label="Pages">
          {PAGES.map((p) => (
            <a key={p.path} href={`#/${p.path}`} aria-current={p === current ? 'page' : undefined}>{p.title}</a>
          ))}
        </nav>
        <span className="who" data-testid="who">{who.name} · <b>{who.role}</b></span>
        <button type="button" onClick={() => { setToken(null); setWho(null); }}>Log out</button>
      </header>
      <main key={current.path}>
        <h1>{current.title}</h1>
        {current.el(who)}
      </main>
    </div>
  );
}

createRoot(document.getElementById('root')!).render(<StrictMode><App /></StrictMode>);

// The console's only way to the backbone: the public HTTP API with the bearer token in the
// Authorization header (never in a URL). Problems (RFC 9457) become ApiError with their detail.
export type Role = 'reader' | 'producer' | 'operator';
export interface Who { name: string; role: Role }

const RANK: Record<Role, number> = { reader: 1, producer: 2, operator: 3 };
export const atLeast = (who: Who | null, role: Role) => !!who && RANK[who.role] >= RANK[role];

const KEY = 'dbb.console.token';
let token: string | null = sessionStorage.getItem(KEY);
export const getToken = () => token;
export function setToken(t: string | null) {
  token = t;
  if (t) sessionStorage.setItem(KEY, t); else sessionStorage.removeItem(KEY);
}

export class ApiError extends Error {
  constructor(public status: number, message: string, public body: any) { super(message); }
}

const headers = (extra: Record<string, string> = {}) => ({ ...(token ? { authorization: `Bearer ${token}` } : {}), ...extra });

async function fail(res: Response): Promise<never> {
  const text = await res.text();
  let body: any = text;
  try { body = JSON.parse(text); } catch { /* not JSON */ }
  const msg = typeof body === 'object' && body ? (body.detail ?? body.title ?? res.statusText) : (text || res.statusText);
  throw new ApiError(res.status, `${res.status}: ${msg}`, body);
}

export async function raw(path: string, init: RequestInit & { json?: unknown } = {}): Promise<Response> {
  const { json, ...rest } = init;
  const res = await fetch(path, {
    ...rest,
    headers: headers({ ...(json !== undefined ? { 'content-type': 'application/json' } : {}), ...(rest.headers as Record<string, string> | undefined) }),
    body: json !== undefined ? JSON.stringify(json) : rest.body,
  });
  if (!res.ok) await fail(res);
  return res;
}

export async function api<T = any>(path: string, init: RequestInit & { json?: unknown } = {}): Promise<T> {
  const res = await raw(path, init);
  const type = res.headers.get('content-type') ?? '';
  return (type.includes('json') ? res.json() : res.text()) as Promise<T>;
}

export const whoami = () => api<Who>('/api/v1/whoami');

export interface StreamEvent {
  eventId: string; event: string; level: 'INFO' | 'WARN' | 'ERROR'; domain: string; topic: string; key: string;
  correlationId: string; causationId: string | null; actor: string | null; user: string | null; source: string | null;
  occurredAt: string; body: Record<string, unknown>;
}

/** Server-Sent Events over fetch (EventSource cannot send the Authorization header). Reconnects with a
 *  growing pause until `signal` aborts; `onState` reports 'open' | 'closed' | an error message. */
export async function streamEvents(query: string, signal: AbortSignal, onEvent: (e: StreamEvent) => void, onState: (s: string) => void) {
  let pause = 500;
  while (!signal.aborted) {
    try {
      const res = await raw(`/api/v1/events/stream${query}`, { signal, headers: { accept: 'text/event-stream' } });
      onState('open');
      pause = 500;
      const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value;
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const data = block.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n');
          if (data) { try { onEvent(JSON.parse(data)); } catch { /* a malformed block is skipped */ } }
        }
      }
      onState('closed');
    } catch (err) {
      if (signal.aborted) return;
      onState((err as Error).message);
      if (err instanceof ApiError && (err.status === 401 || err.status === 403)) return;
    }
    await new Promise((r) => setTimeout(r, pause));
    pause = Math.min(pause * 2, 10_000);
  }
}

/** Rows of the first TABLE of a VOTable (SCS, DataLink) as objects keyed by FIELD name. */
export function parseVoTable(xml: string): { rows: Record<string, string>[]; error: string | null } {
  const doc = new DOMParser().parseFromString(xml, 'application/xml');
  const info = [...doc.getElementsByTagName('INFO')].find((n) => n.getAttribute('name') === 'QUERY_STATUS' && n.getAttribute('value') === 'ERROR');
  const err = [...doc.getElementsByTagName('PARAM')].find((n) => n.getAttribute('name') === 'Error');
  if (info || err) return { rows: [], error: info?.textContent?.trim() || err?.getAttribute('value') || 'error' };
  const names = [...doc.getElementsByTagName('FIELD')].map((f) => f.getAttribute('name') ?? '');
  const rows = [...doc.getElementsByTagName('TR')].map((tr) => {
    const cells = [...tr.getElementsByTagName('TD')];
    return Object.fromEntries(names.map((n, i) => [n, cells[i]?.textContent ?? '']));
  });
  return { rows, error: null };
}

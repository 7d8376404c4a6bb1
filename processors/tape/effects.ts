// Side effects of tape jobs, one function per effect kind, deps injected: the data-files lookup
// (a read), batchstage / cancelbatchstage at the library (idempotent on the job key), and the
// callback POST (at least once, same Idempotency-Key and webhook-id on every attempt, signed per
// Standard Webhooks, backoff on 5xx/timeouts or Retry-After, stop on 410, SSRF guard per attempt with
// the connection pinned to the checked addresses).
import type { CallbackBody, CallbackResult, LookupResult, StageResult } from './rules.ts';
import type { ScoutClient } from '../../domains/tape/scout.ts';
import { createHmac } from 'node:crypto';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { LookupFunction } from 'node:net';
import { isIP } from 'node:net';
import { checkCallbackTarget, parseAllowList, type AllowList, type Lookup } from '../../domains/tape/callback-target.ts';

export interface EffectDeps {
  scout: ScoutClient;
  dataFilesUrl: string;
  notificationsTopic: string;
  callback: {
    user: string; password: string; attempts: number; backoffMs: number; timeoutMs: number; jitter: number;
    /** Standard Webhooks secret (whsec_<base64>); empty/absent: unsigned */
    secret?: string;
    /** cap of an honoured Retry-After, ms (default 5 s) */
    maxRetryAfterMs?: number;
    /** TAPE_CALLBACK_ALLOW (absent: nothing allow-listed) */
    allow?: AllowList;
  };
  sleep?: (ms: number) => Promise<void>;
  /** clock of webhook-timestamp and HTTP-date Retry-After, ms */
  now?: () => number;
  lookup?: Lookup;
}

const defaultSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** obs → files through the telescope's data-files service; the answer is a list of names or an object keyed by name. */
export async function lookupFiles(obs: Record<string, unknown>, deps: Pick<EffectDeps, 'dataFilesUrl' | 'sleep'>): Promise<LookupResult> {
  const url = new URL(deps.dataFilesUrl);
  for (const [k, v] of Object.entries(obs)) if (v !== null && v !== undefined) url.searchParams.set(k, String(v));
  let last = '';
  for (let attempt = 0; attempt < 3; attempt++) {
    if (attempt) await (deps.sleep ?? defaultSleep)(200 * 2 ** attempt);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(5_000) });
      if (res.status >= 500) { last = `HTTP ${res.status}`; continue; }
      if (!res.ok) return { ok: false, error: `data-files service answered HTTP ${res.status}` };
      const body = (await res.json()) as unknown;
      const files = Array.isArray(body) ? body.map(String) : body && typeof body === 'object' ? Object.keys(body) : null;
      if (!files) return { ok: false, error: 'data-files service answered neither a list nor an object' };
      return { ok: true, files };
    } catch (err) {
      last = (err as Error).message;
    }
  }
  return { ok: false, error: `data-files service unreachable: ${last}` };
}

export async function batchStage(jobKey: string, files: string[], deps: EffectDeps, reconciled = false): Promise<StageResult> {
  try {
    const r = await deps.scout.batchStage(files, jobKey, deps.notificationsTopic);
    return { ok: true, endpoint: r.endpoint, reconciled };
  } catch (err) {
    return { ok: false, error: (err as Error).message };
  }
}

export async function cancelStage(jobKey: string, files: string[], deps: EffectDeps): Promise<{ ok: boolean; error?: string }> {
  try {
    await deps.scout.cancelBatchStage(files, jobKey, deps.notificationsTopic);
    return { ok: true };
  } catch (err) {
    return { ok: false, error: (err as Error).message };
  }
}

/** Standard Webhooks signing key from the secret: `whsec_<base64>` (or bare base64) → the key bytes; empty → null (unsigned). */
export function signingKey(secret: string | undefined): Buffer | null {
  if (!secret) return null;
  const key = Buffer.from(secret.startsWith('whsec_') ? secret.slice(6) : secret, 'base64');
  return key.length ? key : null;
}

/** Standard Webhooks signature of one attempt: `v1,` + base64(HMAC-SHA256(key, "<id>.<timestamp>.<body>")). */
export const signature = (key: Buffer, id: string, timestampS: number, body: string) =>
  `v1,${createHmac('sha256', key).update(`${id}.${timestampS}.${body}`).digest('base64')}`;

/** Retry-After in ms: delay-seconds or an HTTP-date (relative to now); null when absent or unreadable. */
export function retryAfterMs(header: string | null, now: number): number | null {
  if (header === null) return null;
  const v = header.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  // an HTTP-date names a day and month (IMF-fixdate, RFC 850 or asctime); anything else is unreadable
  if (!/[a-z]{3}/i.test(v)) return null;
  const at = Date.parse(v);
  return Number.isNaN(at) ? null : Math.max(0, at - now);
}

const openAllow = parseAllowList([]);

/** Connects to exactly the addresses the SSRF check judged (no second DNS answer: no rebinding between check and connect). */
const pinnedLookup = (addresses: string[]): LookupFunction => (_host, options, cb) => {
  const all = addresses.map((address) => ({ address, family: isIP(address) }));
  const fam = typeof options === 'object' && options ? (options as { family?: number | string }).family : undefined;
  const wanted = fam === 4 || fam === 'IPv4' ? all.filter((a) => a.family === 4) : fam === 6 || fam === 'IPv6' ? all.filter((a) => a.family === 6) : all;
  if (!wanted.length) { (cb as any)(Object.assign(new Error(`no checked address of family ${fam}`), { code: 'ENOTFOUND' })); return; }
  if (typeof options === 'object' && options && (options as { all?: boolean }).all) (cb as any)(null, wanted);
  else (cb as any)(null, wanted[0].address, wanted[0].family);
};

/** One POST with node:http(s) (fetch cannot take a lookup): the whole exchange within timeoutMs, no redirects followed. */
function post(url: string, headers: Record<string, string>, body: string, timeoutMs: number, lookup?: LookupFunction): Promise<{ status: number; headers: IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const req = (u.protocol === 'https:' ? httpsRequest : httpRequest)(u, {
      method: 'POST', headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) }, ...(lookup ? { lookup } : {}),
    }, (res) => {
      res.resume();
      res.on('end', () => { clearTimeout(timer); resolve({ status: res.statusCode ?? 0, headers: res.headers }); });
      res.on('error', (err) => { clearTimeout(timer); reject(err); });
    });
    const timer = setTimeout(() => req.destroy(new Error(`callback timed out after ${timeoutMs} ms`)), timeoutMs);
    req.on('error', (err) => { clearTimeout(timer); reject(err); });
    req.end(body);
  });
}

/** POSTs the job result, signed per Standard Webhooks when a secret is set (same webhook-id and
 *  Idempotency-Key on every attempt, a fresh webhook-timestamp per attempt). Retries 5xx, 408, 429,
 *  timeouts and connection errors with exponential backoff, or as long as a Retry-After of a 429/5xx
 *  says (capped by maxRetryAfterMs); stops at once on 410 (error 'gone'), any other 4xx, and a target
 *  that is (or now resolves to) a forbidden address not allow-listed. */
export async function deliverCallback(notifyUrl: string, deliveryId: string, body: CallbackBody, deps: Pick<EffectDeps, 'callback' | 'sleep' | 'now' | 'lookup'>): Promise<CallbackResult> {
  const c = deps.callback;
  const sleep = deps.sleep ?? defaultSleep;
  const now = deps.now ?? Date.now;
  const auth = Buffer.from(`${c.user}:${c.password}`).toString('base64');
  const key = signingKey(c.secret);
  const payload = JSON.stringify(body);
  let error = '';
  let wait: number | null = null;
  let lastRetryAfter: number | undefined;
  for (let attempt = 1; attempt <= c.attempts; attempt++) {
    if (attempt > 1) await sleep(wait ?? c.backoffMs * 2 ** (attempt - 2) * (1 + c.jitter * Math.random()));
    wait = null;
    lastRetryAfter = undefined;
    // checked at every attempt: the name may resolve elsewhere than when the job was submitted
    const target = await checkCallbackTarget(notifyUrl, c.allow ?? openAllow, deps.lookup);
    if (!target.ok) {
      error = target.reason;
      if (target.unresolved) continue;
      return { ok: false, attempts: attempt - 1, error: `forbidden: ${target.reason}`, final: true };
    }
    try {
      const headers: Record<string, string> = { 'content-type': 'application/json', authorization: `Basic ${auth}`, 'idempotency-key': deliveryId };
      if (key) {
        const ts = Math.floor(now() / 1000);
        Object.assign(headers, { 'webhook-id': deliveryId, 'webhook-timestamp': String(ts), 'webhook-signature': signature(key, deliveryId, ts, payload) });
      }
      const res = await post(notifyUrl, headers, payload, c.timeoutMs, target.addresses.length ? pinnedLookup(target.addresses) : undefined);
      if (res.status >= 200 && res.status < 300) return { ok: true, attempts: attempt, httpStatus: res.status };
      if (res.status === 410) return { ok: false, attempts: attempt, error: 'gone', final: true };
      error = `HTTP ${res.status}`;
      if (res.status < 500 && res.status !== 429 && res.status !== 408) return { ok: false, attempts: attempt, error, final: true };
      if (res.status === 429 || res.status >= 500) {
        const h = res.headers['retry-after'];
        const ra = retryAfterMs(typeof h === 'string' ? h : null, now());
        if (ra !== null) { wait = Math.min(ra, c.maxRetryAfterMs ?? 5_000); lastRetryAfter = ra; }
      }
    } catch (err) {
      error = (err as Error).message;
    }
  }
  return { ok: false, attempts: c.attempts, error, ...(lastRetryAfter !== undefined ? { retryAfterMs: lastRetryAfter } : {}) };
}

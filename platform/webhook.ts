// Webhook delivery shared by the domains that notify clients (tape callbacks, staging notify_url): at
// least once, the same Idempotency-Key and webhook-id on every attempt, signed per Standard Webhooks,
// backoff on 5xx/408/429/timeouts or as long as Retry-After says, stop on 410 and other 4xx, SSRF guard
// (webhook-target.ts) at every attempt with the connection pinned to the checked addresses.
import { createHmac } from 'node:crypto';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { LookupFunction } from 'node:net';
import { isIP } from 'node:net';
import { checkWebhookTarget, type AllowList, type Lookup } from './webhook-target.ts';

export interface WebhookPolicy {
  attempts: number;
  /** first backoff, ms (doubles per attempt, with jitter) */
  backoffMs: number;
  /** the whole exchange of one POST, ms */
  timeoutMs: number;
  /** fraction of random jitter added to a backoff */
  jitter: number;
  /** Standard Webhooks secret (whsec_<base64>); empty/absent: unsigned */
  secret?: string;
  /** cap of an honoured Retry-After, ms (default 5 s) */
  maxRetryAfterMs?: number;
  /** targets allowed although not global unicast; the SSRF guard refuses every other such target */
  allow: AllowList;
  /** extra request headers (e.g. basic auth) */
  headers?: Record<string, string>;
}

export interface WebhookDeps {
  sleep?: (ms: number) => Promise<void>;
  /** clock of webhook-timestamp and HTTP-date Retry-After, ms */
  now?: () => number;
  lookup?: Lookup;
}

/** `final`: retrying cannot help (410 Gone, another 4xx, a forbidden target); `retryAfterMs`: the receiver's last Retry-After. */
export type WebhookResult = { ok: true; attempts: number; httpStatus: number } | { ok: false; attempts: number; error: string; final?: true; retryAfterMs?: number };

const defaultSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

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

/** POSTs `body` as JSON, signed per Standard Webhooks when a secret is set (same webhook-id and
 *  Idempotency-Key on every attempt, a fresh webhook-timestamp per attempt). Retries 5xx, 408, 429,
 *  timeouts and connection errors with exponential backoff, or as long as a Retry-After of a 429/5xx
 *  says (capped by maxRetryAfterMs); stops at once on 410 (error 'gone'), any other 4xx, and a target
 *  that is (or now resolves to) a forbidden address not allow-listed. */
export async function deliverWebhook(url: string, deliveryId: string, body: unknown, p: WebhookPolicy, deps: WebhookDeps = {}): Promise<WebhookResult> {
  const sleep = deps.sleep ?? defaultSleep;
  const now = deps.now ?? Date.now;
  const key = signingKey(p.secret);
  const payload = JSON.stringify(body);
  let error = '';
  let wait: number | null = null;
  let lastRetryAfter: number | undefined;
  for (let attempt = 1; attempt <= p.attempts; attempt++) {
    if (attempt > 1) await sleep(wait ?? p.backoffMs * 2 ** (attempt - 2) * (1 + p.jitter * Math.random()));
    wait = null;
    lastRetryAfter = undefined;
    // checked at every attempt: the name may resolve elsewhere than when the request was submitted
    const target = await checkWebhookTarget(url, p.allow, deps.lookup);
    if (!target.ok) {
      error = target.reason;
      if (target.unresolved) continue;
      return { ok: false, attempts: attempt - 1, error: `forbidden: ${target.reason}`, final: true };
    }
    try {
      const headers: Record<string, string> = { 'content-type': 'application/json', ...p.headers, 'idempotency-key': deliveryId };
      if (key) {
        const ts = Math.floor(now() / 1000);
        Object.assign(headers, { 'webhook-id': deliveryId, 'webhook-timestamp': String(ts), 'webhook-signature': signature(key, deliveryId, ts, payload) });
      }
      const res = await post(url, headers, payload, p.timeoutMs, target.addresses.length ? pinnedLookup(target.addresses) : undefined);
      if (res.status >= 200 && res.status < 300) return { ok: true, attempts: attempt, httpStatus: res.status };
      if (res.status === 410) return { ok: false, attempts: attempt, error: 'gone', final: true };
      error = `HTTP ${res.status}`;
      if (res.status < 500 && res.status !== 429 && res.status !== 408) return { ok: false, attempts: attempt, error, final: true };
      if (res.status === 429 || res.status >= 500) {
        const h = res.headers['retry-after'];
        const ra = retryAfterMs(typeof h === 'string' ? h : null, now());
        if (ra !== null) { wait = Math.min(ra, p.maxRetryAfterMs ?? 5_000); lastRetryAfter = ra; }
      }
    } catch (err) {
      error = (err as Error).message;
    }
  }
  return { ok: false, attempts: p.attempts, error, ...(lastRetryAfter !== undefined ? { retryAfterMs: lastRetryAfter } : {}) };
}

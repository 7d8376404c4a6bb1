// Side effects of tape jobs, one function per effect kind, deps injected: the data-files lookup
// (a read), batchstage / cancelbatchstage at the library (idempotent on the job key), and the
// callback POST (at least once, same Idempotency-Key and webhook-id on every attempt, signed per
// Standard Webhooks, backoff on 5xx/timeouts or Retry-After, stop on 410, SSRF guard per attempt with
// the connection pinned to the checked addresses).
import type { ProgressBody, CallbackBody, CallbackResult, LookupResult, StageResult } from './rules.ts';
import type { ScoutClient } from '../../domains/tape/scout.ts';
import { parseAllowList, type AllowList, type Lookup } from '../../domains/tape/callback-target.ts';
import { deliverWebhook } from '../../platform/webhook.ts';

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
const openAllow = parseAllowList([]);

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

/** POSTs the job result through platform/webhook.ts (signed per Standard Webhooks when a secret is set,
 *  the seed's basic auth, retries and SSRF guard there); absent allow-list: nothing allow-listed. */
export async function deliverCallback(notifyUrl: string, deliveryId: string, body: CallbackBody | ProgressBody, deps: Pick<EffectDeps, 'callback' | 'sleep' | 'now' | 'lookup'>): Promise<CallbackResult> {
  const c = deps.callback;
  const auth = Buffer.from(`${c.user}:${c.password}`).toString('base64');
  return deliverWebhook(notifyUrl, deliveryId, body, { ...c, allow: c.allow ?? openAllow, headers: { authorization: `Basic ${auth}` } }, deps);
}

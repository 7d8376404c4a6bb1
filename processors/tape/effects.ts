// Side effects of tape jobs, one function per effect kind, deps injected: the data-files lookup
// (a read), batchstage / cancelbatchstage at the library (idempotent on the job key), and the
// callback POST (at least once, same Idempotency-Key on every attempt, backoff on 5xx/timeouts).
import type { CallbackBody, CallbackResult, LookupResult, StageResult } from './rules.ts';
import type { ScoutClient } from './scout.ts';

export interface EffectDeps {
  scout: ScoutClient;
  dataFilesUrl: string;
  notificationsTopic: string;
  callback: { user: string; password: string; attempts: number; backoffMs: number; timeoutMs: number; jitter: number };
  sleep?: (ms: number) => Promise<void>;
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

/** POSTs the job result; retries 5xx, 429, timeouts and connection errors; any other 4xx fails at once. */
export async function deliverCallback(notifyUrl: string, deliveryId: string, body: CallbackBody, deps: Pick<EffectDeps, 'callback' | 'sleep'>): Promise<CallbackResult> {
  const c = deps.callback;
  const auth = Buffer.from(`${c.user}:${c.password}`).toString('base64');
  let error = '';
  for (let attempt = 1; attempt <= c.attempts; attempt++) {
    if (attempt > 1) await (deps.sleep ?? defaultSleep)(c.backoffMs * 2 ** (attempt - 2) * (1 + c.jitter * Math.random()));
    try {
      const res = await fetch(notifyUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Basic ${auth}`, 'idempotency-key': deliveryId },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(c.timeoutMs),
      });
      await res.arrayBuffer().catch(() => undefined);
      if (res.ok) return { ok: true, attempts: attempt, httpStatus: res.status };
      error = `HTTP ${res.status}`;
      if (res.status < 500 && res.status !== 429 && res.status !== 408) return { ok: false, attempts: attempt, error };
    } catch (err) {
      error = (err as Error).message;
    }
  }
  return { ok: false, attempts: c.attempts, error };
}

// HTTP client of the tape library's Scout API over N nodes: round-robin, a down node is skipped,
// retries with backoff once every node failed, bearer token per node with re-login on 401/403
// (what the seed did with HAProxy, built in). Used by the processor, the gateway and the ticker.
import { DbbError } from '../../platform/errors.ts';
import type { TapeConfig } from './config.ts';

export interface ScoutOptions {
  urls: string[];
  user: string;
  password: string;
  /** tries of one call across nodes */
  attempts: number;
  /** first backoff after a full round of failures, ms (doubles) */
  backoffMs: number;
  /** per HTTP call, ms */
  timeoutMs: number;
  jitter?: number;
  onRetry?: (info: { endpoint: string; attempt: number; error: string }) => void;
}

export interface ScoutResponse<T = any> { status: number; body: T; endpoint: string }

export class ScoutError extends DbbError {
  constructor(message: string, readonly httpStatus?: number) {
    super('DBB_TAPE_SCOUT', message);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface ScoutClient {
  call<T = any>(method: 'GET' | 'PUT' | 'POST', path: string, body?: unknown): Promise<ScoutResponse<T>>;
  batchStage(files: string[], key: string, topic: string): Promise<ScoutResponse>;
  cancelBatchStage(files: string[], key: string, topic: string): Promise<ScoutResponse>;
  /** drops files from the disk cache (they stay on tape); like the WLCG tape REST API's release */
  release(files: string[], key: string): Promise<ScoutResponse>;
  fileInfo(path: string): Promise<{ offlineblocks: number } & Record<string, unknown>>;
  fsCache(): Promise<Record<string, unknown>>;
}

export function createScoutClient(opts: ScoutOptions): ScoutClient {
  const tokens = new Map<string, string>();
  let next = 0;

  async function http(url: string, method: string, body: unknown, token?: string): Promise<{ status: number; body: any }> {
    const res = await fetch(url, {
      method,
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(opts.timeoutMs),
    });
    const text = await res.text();
    let parsed: any = text;
    try { parsed = text ? JSON.parse(text) : null; } catch { /* non-JSON error page */ }
    return { status: res.status, body: parsed };
  }

  async function login(base: string): Promise<string> {
    const r = await http(`${base}/v1/security/login`, 'POST', { acct: opts.user, pass: opts.password });
    if (r.status !== 200 || typeof r.body?.response !== 'string') {
      throw new ScoutError(`login at ${base} failed with HTTP ${r.status}`, r.status);
    }
    tokens.set(base, r.body.response);
    return r.body.response;
  }

  /** One call on one node; throws a retriable error for a down node or a 5xx. */
  async function once(base: string, method: string, path: string, body: unknown): Promise<ScoutResponse> {
    let token = tokens.get(base) ?? (await login(base));
    let r = await http(`${base}${path}`, method, body, token);
    if (r.status === 401 || r.status === 403) {
      tokens.delete(base);
      token = await login(base);
      r = await http(`${base}${path}`, method, body, token);
    }
    if (r.status >= 500) throw Object.assign(new Error(`HTTP ${r.status} from ${base}${path}`), { retriable: true });
    if (r.status >= 400) throw new ScoutError(`${method} ${path} at ${base} answered HTTP ${r.status}: ${JSON.stringify(r.body).slice(0, 200)}`, r.status);
    return { status: r.status, body: r.body, endpoint: base };
  }

  async function call<T>(method: 'GET' | 'PUT' | 'POST', path: string, body?: unknown): Promise<ScoutResponse<T>> {
    const n = opts.urls.length;
    let lastError = 'no attempt';
    for (let attempt = 0; attempt < opts.attempts; attempt++) {
      if (attempt > 0 && attempt % n === 0) {
        const base = opts.backoffMs * 2 ** (attempt / n - 1);
        await sleep(base * (1 + (opts.jitter ?? 0.2) * Math.random()));
      }
      const endpoint = opts.urls[next++ % n];
      try {
        return await once(endpoint, method, path, body);
      } catch (err) {
        if (err instanceof ScoutError && err.httpStatus !== undefined && err.httpStatus < 500) throw err;
        lastError = (err as Error).message;
        opts.onRetry?.({ endpoint, attempt, error: lastError });
      }
    }
    throw new ScoutError(`${method} ${path} failed on every node after ${opts.attempts} tries: ${lastError}`);
  }

  const stageBody = (files: string[], key: string, topic: string) => ({ path: files, copy: 0, inode: [], key, topic });
  return {
    call,
    batchStage: (files, key, topic) => call('PUT', '/v1/request/batchstage', stageBody(files, key, topic)),
    cancelBatchStage: (files, key, topic) => call('PUT', '/v1/request/cancelbatchstage', stageBody(files, key, topic)),
    release: (files, key) => call('PUT', '/v1/request/release', { path: files, key }),
    fileInfo: async (path) => (await call<any>('GET', `/v1/file?path=${encodeURIComponent(path)}`)).body,
    fsCache: async () => (await call<any>('GET', '/v1/fscache')).body,
  };
}

/** The Scout client the tape config describes (processor effects, POST /filestatus, the notification adapter). */
export function createScout(cfg: TapeConfig): ScoutClient {
  return createScoutClient({
    urls: cfg.scoutUrls, user: cfg.scoutUser, password: cfg.scoutPassword, attempts: cfg.scoutAttempts,
    backoffMs: cfg.scoutBackoffMs, timeoutMs: cfg.scoutTimeoutMs, jitter: cfg.retryJitter,
  });
}

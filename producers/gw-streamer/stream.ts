// Replays a strain time series to the gateway's /streamdata in chunks of N samples, as the seed's
// GWclient does. Used by `dbb gw stream FILE --rate ...` and by the gw-streamer script.
import { readStrainFile, type StrainSeries } from './strain-file.ts';

export interface StreamOptions {
  /** gateway base URL, e.g. http://127.0.0.1:8080 */
  url: string;
  /** samples per chunk (default 16384) */
  chunkSamples?: number;
  /** chunks per second; 0 = as fast as the gateway answers (default 0) */
  rate?: number;
  /** bearer token (omit when the gw-seed routes are open) */
  token?: string;
  /** send to /api/v1/gw/datastores/<id>/streamdata instead of the seed route */
  datastore?: string;
  /** send little-endian float64 (application/octet-stream) instead of the seed's JSON body */
  binary?: boolean;
  /** chunks in flight at once (default 1: in order) */
  concurrency?: number;
  /** stop after this many chunks */
  maxChunks?: number;
  onChunk?: (i: number, answer: StreamAnswer) => void;
  fetchImpl?: typeof fetch;
}

export interface StreamAnswer { resp: 'CREATED' | 'FROZEN'; body: Record<string, unknown> }
export interface StreamSummary { chunks: number; created: number; frozen: number; samples: number; seconds: number }

/** Slices the series into chunks; the last one may be shorter. */
export function* chunksOf(series: StrainSeries, n: number): Generator<{ h: Float64Array; t0: number; dt: number }> {
  for (let i = 0; i < series.h.length; i += n) {
    yield { h: series.h.subarray(i, Math.min(i + n, series.h.length)), t0: series.t0 + i * series.dt, dt: series.dt };
  }
}

export async function sendChunk(opts: Pick<StreamOptions, 'url' | 'token' | 'datastore' | 'binary' | 'fetchImpl'>, c: { h: Float64Array; t0: number; dt: number }): Promise<StreamAnswer> {
  const base = opts.url.replace(/\/$/, '');
  const path = opts.datastore ? `/api/v1/gw/datastores/${encodeURIComponent(opts.datastore)}/streamdata` : '/streamdata';
  const headers: Record<string, string> = {};
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  let url = base + path;
  let body: BodyInit;
  if (opts.binary) {
    headers['content-type'] = 'application/octet-stream';
    url += `?t0=${c.t0}&dt=${c.dt}`;
    const le = Buffer.from(c.h.buffer, c.h.byteOffset, c.h.byteLength);
    body = new Uint8Array(le);
  } else {
    headers['content-type'] = 'application/json';
    body = JSON.stringify({ h: Array.from(c.h), t: [c.t0, c.dt] });
  }
  const res = await (opts.fetchImpl ?? fetch)(url, { method: 'POST', headers, body });
  const text = await res.text();
  if (!res.ok) throw new Error(`POST ${path} → ${res.status}: ${text.slice(0, 500)}`);
  return JSON.parse(text) as StreamAnswer;
}

export async function streamSeries(series: StrainSeries, opts: StreamOptions): Promise<StreamSummary> {
  const n = opts.chunkSamples ?? 16384;
  const started = Date.now();
  const all = [...chunksOf(series, n)].slice(0, opts.maxChunks ?? Infinity);
  const summary: StreamSummary = { chunks: 0, created: 0, frozen: 0, samples: 0, seconds: 0 };
  let next = 0;
  const worker = async () => {
    while (next < all.length) {
      const i = next++;
      if (opts.rate && opts.rate > 0) {
        const due = started + (i * 1000) / opts.rate;
        const wait = due - Date.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      }
      const answer = await sendChunk(opts, all[i]);
      summary.chunks++;
      summary.samples += all[i].h.length;
      if (answer.resp === 'CREATED') summary.created++;
      else summary.frozen++;
      opts.onChunk?.(i, answer);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, opts.concurrency ?? 1) }, worker));
  summary.seconds = (Date.now() - started) / 1000;
  return summary;
}

/** `dbb gw stream FILE --rate ...`: reads a GWOSC strain file (HDF5 or text) and replays it. */
export async function streamFile(file: string, opts: StreamOptions): Promise<StreamSummary> {
  return streamSeries(await readStrainFile(file), opts);
}

// Paced replay (`dbb gw stream --paced`): sends a strain series, or an archived batch read back through the
// gateway, chunk by chunk at the pace the data were recorded, as the IGWN low-latency connectors deliver
// live strain: a chunk goes out when the replay clock reaches its last sample. Each due time is computed
// from the start (start + data offset / speed), never from the previous send, so the pace does not drift;
// a late send (slow gateway) is followed at once by the next due chunk instead of shifting the schedule.
import { type StrainSeries } from './strain-file.ts';
import { chunksOf, sendChunk, type StreamAnswer, type StreamOptions } from './stream.ts';

export interface Clock {
  /** monotonic milliseconds */
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const monotonicClock: Clock = {
  now: () => performance.now(),
  sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
};

export interface PacedChunk { h: Float64Array; t0: number; dt: number }

/** What the replay did with one chunk; times in ms since the replay started. */
export interface PacedRecord { i: number; t0: number; n: number; dueMs: number; sentMs: number; answeredMs: number; resp: StreamAnswer['resp'] }

export interface PacedSummary { chunks: number; created: number; frozen: number; samples: number; records: PacedRecord[]; maxLateMs: number }

export interface PacedOptions {
  /** data seconds per wall-clock second (1 = real time) */
  speed: number;
  send: (c: PacedChunk) => Promise<StreamAnswer>;
  clock?: Clock;
  onChunk?: (r: PacedRecord) => void;
}

/** When a chunk is due, ms after the start: when the replay clock reaches the end of its last sample. */
export const dueMs = (c: PacedChunk, firstT0: number, speed: number) => ((c.t0 + c.h.length * c.dt - firstT0) * 1000) / speed;

export async function replayPaced(chunks: Iterable<PacedChunk> | AsyncIterable<PacedChunk>, opts: PacedOptions): Promise<PacedSummary> {
  if (!(opts.speed > 0) || !Number.isFinite(opts.speed)) throw new Error(`speed must be a finite number > 0 (got ${opts.speed})`);
  const clock = opts.clock ?? monotonicClock;
  const start = clock.now();
  const summary: PacedSummary = { chunks: 0, created: 0, frozen: 0, samples: 0, records: [], maxLateMs: 0 };
  let firstT0: number | undefined;
  let i = 0;
  for await (const c of chunks) {
    firstT0 ??= c.t0;
    const due = dueMs(c, firstT0, opts.speed);
    for (let wait = start + due - clock.now(); wait > 0; wait = start + due - clock.now()) await clock.sleep(wait);
    const sentMs = clock.now() - start;
    const answer = await opts.send(c);
    const record: PacedRecord = { i: i++, t0: c.t0, n: c.h.length, dueMs: due, sentMs, answeredMs: clock.now() - start, resp: answer.resp };
    summary.records.push(record);
    summary.chunks++;
    summary.samples += c.h.length;
    summary.maxLateMs = Math.max(summary.maxLateMs, sentMs - due);
    if (answer.resp === 'CREATED') summary.created++;
    else summary.frozen++;
    opts.onChunk?.(record);
  }
  return summary;
}

/** Samples per chunk for a chunk length in seconds. */
export function samplesPerChunk(chunkSeconds: number, dt: number): number {
  const n = Math.round(chunkSeconds / dt);
  if (!(n >= 1)) throw new Error(`--chunk-seconds ${chunkSeconds} is less than one sample (dt=${dt})`);
  return n;
}

/** A series cut into chunks of `chunkSeconds`. */
export const seriesChunks = (series: StrainSeries, chunkSeconds: number) => chunksOf(series, samplesPerChunk(chunkSeconds, series.dt));

/** The finite runs of a window read back with gaps (NaN): the pieces a live source would have sent. */
export function* finiteRuns(h: Float64Array, t0: number, dt: number): Generator<PacedChunk> {
  let start = -1;
  for (let i = 0; i <= h.length; i++) {
    const ok = i < h.length && !Number.isNaN(h[i]);
    if (ok && start < 0) start = i;
    else if (!ok && start >= 0) {
      yield { h: h.subarray(start, i), t0: t0 + start * dt, dt };
      start = -1;
    }
  }
}

type Gateway = Pick<StreamOptions, 'url' | 'token' | 'fetchImpl'>;

async function getFrom(gw: Gateway, path: string): Promise<Response> {
  const res = await (gw.fetchImpl ?? fetch)(gw.url.replace(/\/$/, '') + path, { headers: gw.token ? { authorization: `Bearer ${gw.token}` } : {} });
  if (!res.ok) throw new Error(`GET ${path} → ${res.status}: ${(await res.text()).slice(0, 500)}`);
  return res;
}

export interface ArchiveInfo { batch: string; t0: number; t1: number; dt: number; mixedDt: boolean; n_f: number; samples: number }

/** An archived batch's chunks read back through GET .../strain, window by window, gaps left out. */
export async function* batchChunks(gw: Gateway, datastore: string, batch: string, chunkSeconds: number): AsyncGenerator<PacedChunk> {
  const base = `/api/v1/gw/datastores/${encodeURIComponent(datastore)}`;
  const { archives } = await (await getFrom(gw, `${base}/archives`)).json() as { archives: ArchiveInfo[] };
  const a = archives.find((x) => x.batch === batch);
  if (!a) throw new Error(`datastore ${datastore} has no archived batch ${batch} (has: ${archives.map((x) => x.batch).join(', ') || 'none'})`);
  if (a.mixedDt) throw new Error(`batch ${batch} mixes sample rates; replay it with --file per rate`);
  const n = samplesPerChunk(chunkSeconds, a.dt);
  // window k is [t0 + k*n*dt, t0 + (k+1)*n*dt): computed from k, so no rounding accumulates
  for (let k = 0; a.t0 + k * n * a.dt < a.t1 - a.dt / 2; k++) {
    const from = a.t0 + k * n * a.dt;
    const to = Math.min(a.t0 + (k + 1) * n * a.dt, a.t1);
    const res = await getFrom(gw, `${base}/strain?t0=${from}&t1=${to}&format=octet`);
    const body = Buffer.from(await res.arrayBuffer());
    const h = new Float64Array(body.length / 8);
    for (let i = 0; i < h.length; i++) h[i] = body.readDoubleLE(i * 8);
    yield* finiteRuns(h, Number(res.headers.get('dbb-t0')), Number(res.headers.get('dbb-dt')));
  }
}

export interface PacedStreamOptions extends Gateway {
  /** datastore the chunks go to (default: the seed route) */
  datastore?: string;
  binary?: boolean;
  speed: number;
  chunkSeconds: number;
  clock?: Clock;
  onChunk?: (r: PacedRecord) => void;
}

/** `dbb gw stream --paced --file F`: a strain file replayed at its recorded pace. */
export function streamSeriesPaced(series: StrainSeries, opts: PacedStreamOptions): Promise<PacedSummary> {
  return replayPaced(seriesChunks(series, opts.chunkSeconds), { ...opts, send: (c) => sendChunk(opts, c) });
}

/** `dbb gw stream --paced --batch B`: an archived batch of `source` replayed at its recorded pace. */
export function streamBatchPaced(source: string, batch: string, opts: PacedStreamOptions): Promise<PacedSummary> {
  return replayPaced(batchChunks(opts, source, batch, opts.chunkSeconds), { ...opts, send: (c) => sendChunk(opts, c) });
}

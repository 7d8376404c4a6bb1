// Issue 20: reading strain back through the gateway on the real stack. Chunks go in over /streamdata, one
// batch is archived by /cleanbuf, one chunk is never sent; GET .../strain?t0=&t1= then returns exactly the
// samples of [t0, t1) across the archive and the buffer, the missing chunk as an explicit gap, in JSON and
// octet-stream. `dbb gw stream --paced` replays the archived batch (and a .npy file) at a fast speed.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestStack, eventually, type TestStack } from './support/stack.ts';
import { createGwProcessor } from '../processors/gw/index.ts';
import { createGwProjection } from '../projections/gw/index.ts';
import { streamBatchPaced } from '../producers/gw-streamer/index.ts';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { dump } from 'npyjs';

const N = 256; // samples per chunk
const DT = 1 / 4096;
const T0 = 1126259462;
const MAX_SAMPLES = 3000;
// the series x(i); chunk k holds samples k*N .. k*N+N-1
const x = (i: number) => Math.sin(i / 7) * 1e-21 + i * 1e-25;
const chunk = (k: number) => Array.from({ length: N }, (_, j) => x(k * N + j));
const at = (i: number) => T0 + i * DT;
const seriesOf = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => x(from + i));

let stack: TestStack;
let dataDir: string;

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'gw-strain-'));
  stack = await startTestStack({
    consumers: (deps) => [createGwProcessor(deps), createGwProjection(deps)],
    env: { GW_DATA_DIR: dataDir, GW_READ_MAX_SAMPLES: String(MAX_SAMPLES) },
  });
});
afterAll(async () => {
  await stack?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

const base = (id: string) => `/api/v1/gw/datastores/${id}`;
const get = (url: string, role: 'reader' | null = 'reader') => stack.app.inject({ method: 'GET', url, headers: role ? stack.auth(role) : {} });
async function send(id: string, k: number, dt = DT, t0 = at(k * N)) {
  const res = await stack.app.inject({ method: 'POST', url: `${base(id)}/streamdata`, headers: stack.auth('producer'), payload: { h: chunk(k), t: [t0, dt] } });
  expect(res.json().resp).toBe('CREATED');
}
const strain = (id: string, t0: number, t1: number, format = 'json') => get(`${base(id)}/strain?t0=${t0}&t1=${t1}&format=${format}`);

describe('GET /api/v1/gw/datastores/{id}/strain', () => {
  let batch: string;

  beforeAll(async () => {
    // chunks 0-2 archived, chunk 3 never sent, chunks 4-5 in the buffer
    for (const k of [0, 1, 2]) await send('H1', k);
    const flushed = await stack.app.inject({ method: 'POST', url: `${base('H1')}/cleanbuf`, headers: stack.auth('operator'), payload: { msg: 'batch 1' } });
    expect(flushed.json().n_f).toBe(3);
    batch = flushed.json().archive.split('/').pop();
    for (const k of [4, 5]) await send('H1', k);
    await eventually(async () => expect((await get(`${base('H1')}/stats`)).json().n_itm).toBe(2));
  });

  it('returns exactly the samples of [t0, t1) across an archived batch and the buffer, the missing chunk as a gap (JSON)', async () => {
    const res = await strain('H1', at(100), at(5 * N + 50));
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body).toMatchObject({ datastore: 'H1', t0: at(100), dt: DT, n: 5 * N - 50, gaps: [[3 * N - 100, 4 * N - 100]] });
    expect(body.h).toEqual([...seriesOf(100, 3 * N), ...Array(N).fill(null), ...seriesOf(4 * N, 5 * N + 50)]);
  });

  it('returns the same window as little-endian float64 with NaN in the gap and the grid in headers (octet)', async () => {
    const res = await strain('H1', at(100), at(5 * N + 50), 'octet');
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('application/octet-stream');
    expect(res.headers).toMatchObject({ 'dbb-t0': String(at(100)), 'dbb-dt': String(DT), 'dbb-samples': String(5 * N - 50), 'dbb-gap-count': '1', 'dbb-gaps': `${3 * N - 100}-${4 * N - 100}` });
    const raw = res.rawPayload;
    const h = Array.from({ length: raw.length / 8 }, (_, i) => raw.readDoubleLE(i * 8));
    expect(h).toEqual([...seriesOf(100, 3 * N), ...Array(N).fill(NaN), ...seriesOf(4 * N, 5 * N + 50)]);
  });

  it('splits a range at any point into adjacent windows that join up to the whole, none lost or repeated', async () => {
    const whole = (await strain('H1', at(10), at(6 * N))).json();
    for (const b of [at(N), at(N) + 0.3 * DT, at(2 * N + 7) - 0.5 * DT, at(4 * N + 1) + 1e-7]) {
      const left = (await strain('H1', at(10), b)).json();
      const right = (await strain('H1', b, at(6 * N))).json();
      expect([...left.h, ...right.h]).toEqual(whole.h);
      expect(right.t0).toBeCloseTo(whole.t0 + left.n * DT, 6);
    }
  });

  it('lists the archived batch with its time span', async () => {
    const res = await get(`${base('H1')}/archives`);
    expect(res.json().archives).toEqual([expect.objectContaining({ batch, n_f: 3, samples: 3 * N, t0: at(0), t1: at(3 * N), dt: DT, mixedDt: false })]);
  });

  it('answers a window with no chunk as all gap on the datastore\'s grid', async () => {
    const body = (await strain('H1', at(3 * N), at(4 * N))).json();
    expect(body).toMatchObject({ t0: at(3 * N), n: N, gaps: [[0, N]] });
    expect(body.h.every((v: unknown) => v === null)).toBe(true);
  });

  it('refuses mixed dt in range with 409 DBB_GW_MIXED_SAMPLING', async () => {
    await send('mixed', 0);
    await send('mixed', 1, DT * 2, at(N));
    await eventually(async () => expect((await get(`${base('mixed')}/stats`)).json().n_itm).toBe(2));
    const res = await strain('mixed', at(0), at(2 * N));
    expect(res.statusCode).toBe(409);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.json()).toMatchObject({ code: 'DBB_GW_MIXED_SAMPLING' });
    expect((await strain('mixed', at(0), at(N))).statusCode).toBe(200);
  });

  it('refuses bad ranges, too many samples, unknown datastores and callers without a token', async () => {
    const problem = async (res: Awaited<ReturnType<typeof get>>, status: number, code?: string) => {
      expect(res.statusCode).toBe(status);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      if (code) expect(res.json().code).toBe(code);
    };
    await problem(await strain('H1', at(10), at(10)), 400, 'DBB_GW_BAD_RANGE');
    await problem(await strain('H1', at(10), at(5)), 400, 'DBB_GW_BAD_RANGE');
    await problem(await strain('H1', at(0), at(MAX_SAMPLES + 1)), 400, 'DBB_GW_RANGE_TOO_LARGE');
    expect((await strain('H1', at(0), at(MAX_SAMPLES))).statusCode).toBe(200);
    await problem(await strain('nobody', at(0), at(10)), 404, 'DBB_GW_DATASTORE_NOT_FOUND');
    await problem(await get(`${base('H1')}/strain?t0=abc&t1=5`), 400);
    await problem(await get(`${base('H1')}/strain?t0=${at(0)}&t1=${at(10)}&format=hdf5`), 400);
    await problem(await get(`${base('H1')}/strain?t0=${at(0)}&t1=${at(10)}`, null), 401);
  });
});

describe('dbb gw stream --paced', () => {
  let url: string;
  beforeAll(async () => { url = await stack.listen(); });

  it('replays an archived batch into another datastore in order, each chunk sent no earlier than its due time, and reads back the same samples', async () => {
    const { archives } = (await get(`${base('H1')}/archives`)).json();
    const speed = 16;
    const chunkSeconds = 128 * DT; // half a stored chunk
    const summary = await streamBatchPaced('H1', archives[0].batch, { url, token: stack.tokens.producer, datastore: 'replay', binary: true, speed, chunkSeconds });
    expect(summary).toMatchObject({ chunks: 6, created: 6, frozen: 0, samples: 3 * N });
    summary.records.forEach((r, k) => {
      expect(r).toMatchObject({ i: k, t0: at(k * 128), n: 128, resp: 'CREATED' });
      // due when the replay clock reaches the chunk's end: computed from the start, so no drift
      expect(r.dueMs).toBeCloseTo(((k + 1) * chunkSeconds * 1000) / speed, 9);
      expect(r.sentMs).toBeGreaterThanOrEqual(r.dueMs);
      if (k) expect(r.sentMs).toBeGreaterThanOrEqual(summary.records[k - 1].answeredMs);
    });
    await eventually(async () => expect((await get(`${base('replay')}/stats`)).json().n_itm).toBe(6));
    const replayed = (await strain('replay', at(0), at(3 * N))).json();
    expect(replayed).toMatchObject({ t0: at(0), n: 3 * N, gaps: [] });
    expect(replayed.h).toEqual((await strain('H1', at(0), at(3 * N))).json().h);
  });

  it('replays a .npy file through the CLI, and refuses a batch that does not exist', async () => {
    const file = join(dataDir, 'strain.npy');
    const h = Float64Array.from(seriesOf(0, 2 * N));
    await writeFile(file, new Uint8Array(dump(h, [h.length], { dtype: 'f8' })));
    const cli = (...args: string[]) => promisify(execFile)(process.execPath, ['--import', 'tsx', 'cli/dbb.ts', 'gw', 'stream', '--paced', '--url', url, '--token', stack.tokens.producer, ...args], { env: { ...process.env, LOG_LEVEL: 'silent' } });
    const { stdout } = await cli('--datastore', 'npy', '--file', file, '--t0', String(T0), '--dt', String(DT), '--chunk-seconds', String(N * DT), '--speed', '32');
    const lines = stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.slice(0, 2).map((r) => [r.t0, r.n, r.resp])).toEqual([[at(0), N, 'CREATED'], [at(N), N, 'CREATED']]);
    expect(lines[2]).toMatchObject({ chunks: 2, created: 2, samples: 2 * N });
    await eventually(async () => expect((await strain('npy', at(0), at(2 * N))).json().h).toEqual([...h]));
    await expect(cli('--datastore', 'x', '--batch', 'no-such-batch', '--source', 'H1')).rejects.toThrow(/no archived batch no-such-batch/);
  });
});

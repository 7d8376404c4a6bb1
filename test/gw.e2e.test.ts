// End to end through the gateway on the real stack: stream until MAX_SIZE, /train → FROZEN with exact
// counts, further chunks refused and not stored, /cleanbuf archives exactly the stored files, counters
// back to zero; the seed's JSON shapes field by field; bad input refused with nothing appended.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestStack, eventually, type TestStack } from './support/stack.ts';
import { createGwProcessor } from '../processors/gw/index.ts';
import { createGwProjection } from '../projections/gw/index.ts';
import { chunkJson } from '../domains/gw/chunk-file.ts';
import { ns } from '../platform/config.ts';
import { TOPIC } from '../schemas/generated/index.ts';

const N = 256; // samples per chunk
const DT = 1 / 4096;
const chunk = (k: number) => Array.from({ length: N }, (_, i) => Math.sin((k * N + i) / 10) * 1e-21);
const t0Of = (k: number) => 1126259462 + k * N * DT;
const fileBytes = (k: number) => Buffer.byteLength(chunkJson(new Float64Array(chunk(k)), t0Of(k), DT));
// freeze after three chunks: MAX_SIZE sits inside the third one
const MAX_SIZE = fileBytes(0) + fileBytes(1) + Math.floor(fileBytes(2) / 2);

let stack: TestStack;
let dataDir: string;

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'gw-e2e-'));
  stack = await startTestStack({
    consumers: (deps) => [createGwProcessor(deps), createGwProjection(deps)],
    env: { GW_DATA_DIR: dataDir, GW_MAX_SIZE: String(MAX_SIZE), GW_MAX_CHUNK_BYTES: '200000' },
  });
});
afterAll(async () => {
  await stack?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

const post = (url: string, payload: unknown, role: 'producer' | 'operator' | 'reader' = 'producer') =>
  stack.app.inject({ method: 'POST', url, headers: stack.auth(role), payload: payload as object });
const get = (url: string) => stack.app.inject({ method: 'GET', url, headers: stack.auth('reader') });
const stream = (k: number, prefix = '') => post(`${prefix}/streamdata`, { h: chunk(k), t: [t0Of(k), DT] });

async function requestOffsets(): Promise<number> {
  const admin = stack.platform.kafka.admin();
  await admin.connect();
  try {
    const offs = await admin.fetchTopicOffsets(ns(stack.config, TOPIC.GW_REQUESTS));
    return offs.reduce((s, o) => s + Number(o.high), 0);
  } finally {
    await admin.disconnect();
  }
}

describe('gw data buffer, seed routes on the default datastore', () => {
  const stored: { fname: string; bytes: number }[] = [];

  it('answers WAITING to /train while the buffer is below MAX_SIZE', async () => {
    const res = await post('/train', { user: 'airflow', token: stack.tokens.producer });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ resp: 'WAITING' });
  });

  it('stores each chunk as a JSON file and answers CREATED with its file name and bytes', async () => {
    for (let k = 0; k < 3; k++) {
      const res = await stream(k);
      expect(res.statusCode).toBe(200);
      const body = res.json();
      expect(Object.keys(body).sort()).toEqual(['body', 'resp']);
      expect(body.resp).toBe('CREATED');
      expect(body.body).toEqual({
        fname: expect.stringMatching(new RegExp(`^gw_${String(k + 1).padStart(9, '0')}_[0-9a-f]{8}\\.json$`)), bytes: fileBytes(k), n_samples: N, t0: t0Of(k), dt: DT,
        n_itm: k + 1, buff_size: stored.reduce((s, f) => s + f.bytes, 0) + fileBytes(k), datastore: 'default',
      });
      stored.push({ fname: body.body.fname, bytes: body.body.bytes });
      const onDisk = JSON.parse(await readFile(join(dataDir, 'default', 'data', body.body.fname), 'utf8'));
      expect(onDisk).toEqual({ h: chunk(k), t: [t0Of(k), DT] });
    }
  });

  it('freezes on /train with the exact n_f and bt_wrt', async () => {
    const res = await post('/train', { user: 'airflow', token: stack.tokens.producer });
    expect(res.json()).toEqual({ resp: 'FROZEN', n_f: 3, bt_wrt: stored.reduce((s, f) => s + f.bytes, 0) });
  });

  it('refuses further chunks with FROZEN and stores nothing', async () => {
    const res = await stream(3);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ resp: 'FROZEN', body: { dstatus: 'FROZEN', msg: expect.any(String), datastore: 'default' } });
    expect((await readdir(join(dataDir, 'default', 'data'))).sort()).toEqual(stored.map((f) => f.fname));
    // a second /train answers FROZEN again with the same counts
    expect((await post('/train', { user: 'airflow', token: stack.tokens.producer })).json()).toEqual({ resp: 'FROZEN', n_f: 3, bt_wrt: stored.reduce((s, f) => s + f.bytes, 0) });
  });

  it('reports /stats, /dumpbuf and /desc from the projection', async () => {
    const total = stored.reduce((s, f) => s + f.bytes, 0);
    await eventually(async () => expect((await get('/stats')).json()).toEqual({ n_itm: 3, buff_size: total }));
    expect((await get('/dumpbuf')).json()).toEqual({ nmlist: stored.map((f) => f.fname) });
    expect((await get('/desc')).json()).toEqual({ resp: 'FROZEN' });
    const page = await get('/dspage');
    expect(page.headers['content-type']).toContain('text/html');
    expect(page.body).toContain('<span class="FROZEN" id="dstatus">FROZEN</span>');
    expect(page.body).toContain(`<b id="buff_size">${total}</b>`);
  });

  it('archives exactly the stored files on /cleanbuf, then counts from zero, OPERATIONAL again', async () => {
    const res = await post('/cleanbuf', { msg: 'batch done' });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body).toEqual({ msg: expect.stringContaining('3 files archived'), archive: expect.any(String), n_f: 3, bt_wrt: stored.reduce((s, f) => s + f.bytes, 0) });
    expect(body.archive.startsWith(join(dataDir, 'default', 'archive'))).toBe(true);
    expect(body.archive).toMatch(/\/\d{4}-\d\d-\d\dT\d\d-\d\d_0001$/);
    expect((await readdir(body.archive)).sort()).toEqual(stored.map((f) => f.fname));
    for (const f of stored) expect((await stat(join(body.archive, f.fname))).size).toBe(f.bytes);
    expect(await readdir(join(dataDir, 'default', 'data'))).toEqual([]);
    await eventually(async () => expect((await get('/stats')).json()).toEqual({ n_itm: 0, buff_size: 0 }));
    expect((await get('/dumpbuf')).json()).toEqual({ nmlist: [] });
    expect((await get('/desc')).json()).toEqual({ resp: 'OPERATIONAL' });
    const after = await stream(4);
    expect(after.json()).toMatchObject({ resp: 'CREATED', body: { fname: expect.stringMatching(/^gw_000000004_[0-9a-f]{8}\.json$/), n_itm: 1 } });
  });

  it('keeps the datastore log (/dumpflog) in order', async () => {
    await eventually(async () => {
      const { log } = (await get('/dumpflog')).json();
      expect(log.map((e: { event: string }) => e.event)).toEqual([
        'TrainDeferred', 'GwChunkStored', 'GwChunkStored', 'GwChunkStored', 'BufferFrozen', 'GwChunkFailed', 'BufferFrozen', 'BufferFlushed', 'GwChunkStored',
      ]);
      expect(log[4]).toMatchObject({ actor: 'test-producer', body: { user: 'airflow', tokenOwner: 'test-producer', n_f: 3 } });
    });
  });
});

describe('octet-stream chunks and per-datastore routes', () => {
  it('stores a little-endian float64 body with t0/dt in the query, in its own datastore', async () => {
    const xs = new Float64Array([1.5e-21, -2.25e-21, 3e-22, 0]);
    const res = await stack.app.inject({
      method: 'POST', url: '/api/v1/gw/datastores/H1-o4/streamdata?t0=1000.5&dt=0.000244140625',
      headers: { ...stack.auth('producer'), 'content-type': 'application/octet-stream' }, payload: Buffer.from(xs.buffer),
    });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ resp: 'CREATED', body: { fname: expect.stringMatching(/^gw_000000001_/), n_samples: 4, t0: 1000.5, dt: 0.000244140625, n_itm: 1, datastore: 'H1-o4' } });
    expect(JSON.parse(await readFile(join(dataDir, 'H1-o4', 'data', res.json().body.fname), 'utf8'))).toEqual({ h: [...xs], t: [1000.5, 0.000244140625] });
    await eventually(async () => expect((await get('/api/v1/gw/datastores/H1-o4/stats')).json()).toEqual({ n_itm: 1, buff_size: res.json().body.bytes }));
    expect((await get('/api/v1/gw/datastores/H1-o4/desc')).json()).toEqual({ resp: 'OPERATIONAL', dstatus: 'OPERATIONAL', user: '', token: '', last_archive: null });
    const list = (await get('/api/v1/gw/datastores')).json();
    expect(list.datastores.map((d: { id: string }) => d.id)).toEqual(expect.arrayContaining(['H1-o4', 'default']));
  });

  it('needs an operator to flush through /api/v1', async () => {
    expect((await post('/api/v1/gw/datastores/H1-o4/cleanbuf', { msg: 'x' }, 'producer')).statusCode).toBe(403);
    const res = await post('/api/v1/gw/datastores/H1-o4/cleanbuf', { msg: 'x' }, 'operator');
    expect(res.json()).toMatchObject({ n_f: 1 });
    // the body must be a JSON object (issue 14: no body, null or an array is a 400 and flushes nothing);
    // msg is optional; an empty batch archives into an empty directory
    const none = await stack.app.inject({ method: 'POST', url: '/api/v1/gw/datastores/H1-o4/cleanbuf', headers: stack.auth('operator') });
    expect(none.statusCode).toBe(400);
    const empty = await post('/api/v1/gw/datastores/H1-o4/cleanbuf', {}, 'operator');
    expect(empty.statusCode).toBe(200);
    expect(empty.json()).toMatchObject({ n_f: 0, bt_wrt: 0, archive: expect.stringMatching(/_0002$/) });
  });
});

it('documents the gw routes in the OpenAPI spec', async () => {
  const spec = (await stack.app.inject({ method: 'GET', url: '/docs/json' })).json();
  expect(Object.keys(spec.paths)).toEqual(expect.arrayContaining(['/streamdata', '/train', '/cleanbuf', '/stats', '/dumpbuf', '/desc', '/dspage', '/dumpflog', '/api/v1/gw/datastores/{id}/streamdata']));
  expect(Object.keys(spec.paths['/streamdata'].post.requestBody.content)).toEqual(['application/json', 'application/octet-stream']);
});

describe('bad input', () => {
  it('is refused as problem+json 4xx with nothing appended', async () => {
    const before = await requestOffsets();
    const cases: { payload: unknown; url?: string; type?: string; status: number }[] = [
      { payload: { h: [1, 'x'], t: [0, 1] }, status: 400 },
      { payload: { h: 5, t: [0, 1] }, status: 400 },
      { payload: { h: [], t: [0, 1] }, status: 400 },
      { payload: { h: [1, 2], t: [0, 0] }, status: 400 },
      { payload: { h: [1, 2], t: [0] }, status: 400 },
      { payload: { h: [1, 2] }, status: 400 },
      { payload: '{"h":[1e999],"t":[0,1]}', type: 'application/json', status: 400 },
      { payload: { h: Array.from({ length: 30_000 }, () => 1.2345678901234567e-21), t: [0, 1] }, status: 413 },
      { payload: Buffer.alloc(12), type: 'application/octet-stream', url: '/streamdata?t0=0&dt=1', status: 400 },
      { payload: Buffer.alloc(16), type: 'application/octet-stream', url: '/streamdata?t0=0', status: 400 },
      { payload: Buffer.alloc(16), type: 'application/octet-stream', url: '/streamdata?t0=0&dt=-1', status: 400 },
    ];
    for (const c of cases) {
      const res = await stack.app.inject({
        method: 'POST', url: c.url ?? '/streamdata',
        headers: { ...stack.auth('producer'), ...(c.type ? { 'content-type': c.type } : {}) }, payload: c.payload as string,
      });
      expect({ case: c.payload === undefined ? c.url : JSON.stringify(c.payload).slice(0, 60), status: res.statusCode }).toEqual({ case: expect.anything(), status: c.status });
      expect(res.headers['content-type']).toContain('application/problem+json');
      expect(res.json()).toMatchObject({ status: c.status, code: expect.stringMatching(/^DBB_/) });
    }
    const badTrain = await post('/train', { user: 'u', token: 'not-a-token' });
    expect(badTrain.statusCode).toBe(401);
    expect(badTrain.json()).toMatchObject({ code: 'DBB_GW_TOKEN_INVALID' });
    expect((await post('/train', { user: 'u', token: stack.tokens.reader })).statusCode).toBe(403);
    expect((await stack.app.inject({ method: 'POST', url: '/streamdata', payload: { h: [1], t: [0, 1] } })).statusCode).toBe(401);
    expect((await post('/api/v1/gw/datastores/..%2Fetc/streamdata', { h: [1], t: [0, 1] })).statusCode).toBe(400);
    expect(await requestOffsets()).toBe(before);
  });
});

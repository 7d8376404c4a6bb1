// Replay: dropping the gw projection and rebuilding it from offset 0 (platform/replay.ts) reproduces
// /stats, /dumpbuf, /desc and the log of every datastore.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestStack, eventually, type TestStack } from './support/stack.ts';
import { createGwProcessor } from '../processors/gw/index.ts';
import { createGwProjection } from '../projections/gw/index.ts';
import { replayProjection } from '../platform/replay.ts';

let stack: TestStack;
let dataDir: string;

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'gw-replay-'));
  stack = await startTestStack({
    consumers: (deps) => [createGwProcessor(deps), createGwProjection(deps)],
    env: { GW_DATA_DIR: dataDir, GW_MAX_SIZE: '3000' },
  });
});
afterAll(async () => {
  await stack?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

const post = (url: string, payload: object) => stack.app.inject({ method: 'POST', url, headers: stack.auth('operator'), payload });
const get = async (url: string) => (await stack.app.inject({ method: 'GET', url, headers: stack.auth('reader') })).json();
const chunk = (k: number) => ({ h: Array.from({ length: 64 }, (_, i) => (k + 1) * 1e-21 * Math.sin(i)), t: [1e9 + k, 1 / 64] });

async function snapshot() {
  const out: Record<string, unknown> = {};
  for (const p of ['', '/api/v1/gw/datastores/L1']) {
    for (const r of ['/stats', '/dumpbuf', '/desc']) out[p + r] = await get(p + r);
  }
  out.log = (await get('/dumpflog')).log.map((e: { event: string; offset: number; body: unknown }) => [e.offset, e.event, e.body]);
  out.datastores = await get('/api/v1/gw/datastores');
  return out;
}

it('rebuilds the same read model from the log', async () => {
  for (let k = 0; k < 4; k++) expect((await post('/streamdata', chunk(k))).json().resp).toBe('CREATED');
  expect((await post('/train', { user: 'u', token: stack.tokens.producer })).json().resp).toBe('FROZEN');
  expect((await post('/streamdata', chunk(9))).json().resp).toBe('FROZEN');
  expect((await post('/cleanbuf', { msg: 'one' })).json().n_f).toBe(4);
  for (let k = 0; k < 2; k++) expect((await post('/streamdata', chunk(10 + k))).json().resp).toBe('CREATED');
  for (let k = 0; k < 3; k++) expect((await post('/api/v1/gw/datastores/L1/streamdata', chunk(20 + k))).json().resp).toBe('CREATED');

  // the projection has seen everything once the log holds all 12 outcomes
  await eventually(async () => expect((await get('/dumpflog')).log).toHaveLength(9));
  await eventually(async () => expect(await get('/api/v1/gw/datastores/L1/stats')).toMatchObject({ n_itm: 3 }));
  const before = await snapshot();
  expect(before['/stats']).toMatchObject({ n_itm: 2 });
  expect((before['/dumpbuf'] as { nmlist: string[] }).nmlist).toHaveLength(2);

  const res = await replayProjection(stack.platform, createGwProjection(stack.platform.domainDeps));
  expect(res.events).toBe(12);
  expect(res.previous).toBe('projection_gw__old');
  expect(await snapshot()).toEqual(before);
});

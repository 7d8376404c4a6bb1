// Concurrency through a real HTTP port: several streamers and a /train loop race on one datastore. No
// chunk may be stored once FROZEN was answered, and the answers, the counters and the files on disk agree.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestStack, eventually, type TestStack } from './support/stack.ts';
import { createGwProcessor } from '../processors/gw/index.ts';
import { createGwProjection } from '../projections/gw/index.ts';
import { chunkJson } from '../domains/gw/chunk-file.ts';

const STREAMERS = 4;
const CHUNKS_EACH = 12;
const N = 128;
const DT = 1 / 4096;
const samples = (s: number, k: number) => Array.from({ length: N }, (_, i) => Math.cos((s * 1000 + k * N + i) / 7) * 1e-21);
const approxBytes = Buffer.byteLength(chunkJson(new Float64Array(samples(0, 0)), 0, DT));
const MAX_SIZE = approxBytes * 10; // freezes after roughly a fifth of the chunks

let stack: TestStack;
let dataDir: string;
let url: string;

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'gw-race-'));
  stack = await startTestStack({
    consumers: (deps) => [createGwProcessor(deps), createGwProjection(deps)],
    env: { GW_DATA_DIR: dataDir, GW_MAX_SIZE: String(MAX_SIZE) },
  });
  url = await stack.listen();
});
afterAll(async () => {
  await stack?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

async function post(path: string, body: unknown) {
  const res = await fetch(url + path, { method: 'POST', headers: { ...stack.auth('producer'), 'content-type': 'application/json' }, body: JSON.stringify(body) });
  expect(res.status).toBe(200);
  return res.json();
}

it('never stores a chunk after FROZEN was answered; answers, counters and files agree', async () => {
  const answers: { sentAt: number; resp: string; fname?: string; n_itm?: number }[] = [];
  let frozen: { at: number; n_f: number; bt_wrt: number } | null = null;
  let trains = 0;

  const streamer = async (s: number) => {
    for (let k = 0; k < CHUNKS_EACH; k++) {
      const sentAt = performance.now();
      const a = await post('/streamdata', { h: samples(s, k), t: [1e9 + s * 100 + k, DT] });
      answers.push({ sentAt, resp: a.resp, fname: a.body.fname, n_itm: a.body.n_itm });
    }
  };
  const trainer = async () => {
    while (!frozen) {
      trains++;
      const a = await post('/train', { user: 'race', token: stack.tokens.producer });
      if (a.resp === 'FROZEN') frozen = { at: performance.now(), n_f: a.n_f, bt_wrt: a.bt_wrt };
      else expect(a).toEqual({ resp: 'WAITING' });
    }
  };
  await Promise.all([...Array.from({ length: STREAMERS }, (_, s) => streamer(s)), trainer()]);

  const f = frozen!;
  expect(f.bt_wrt).toBeGreaterThanOrEqual(MAX_SIZE);
  const created = answers.filter((a) => a.resp === 'CREATED');
  expect(answers.filter((a) => a.resp !== 'CREATED').every((a) => a.resp === 'FROZEN')).toBe(true);
  // nothing sent after the FROZEN answer was stored
  expect(answers.filter((a) => a.sentAt > f.at && a.resp === 'CREATED')).toEqual([]);
  // every CREATED answer is one file, numbered once each
  expect(created.map((a) => a.n_itm).sort((x, y) => x! - y!)).toEqual(Array.from({ length: created.length }, (_, i) => i + 1));

  const files = (await readdir(join(dataDir, 'default', 'data'))).sort();
  expect(files).toEqual(created.map((a) => a.fname).sort());
  const sizes = await Promise.all(files.map((n) => stat(join(dataDir, 'default', 'data', n)).then((st) => st.size)));
  const onDisk = sizes.reduce((x, y) => x + y, 0);
  expect({ n_f: f.n_f, bt_wrt: f.bt_wrt }).toEqual({ n_f: files.length, bt_wrt: onDisk });
  // every answered chunk's file the gateway wrote was either renamed into data/ or removed (FROZEN)
  expect(await readdir(join(dataDir, 'default', 'incoming'))).toEqual([]);

  await eventually(async () => {
    const stats = await (await fetch(`${url}/stats`, { headers: stack.auth('reader') })).json();
    expect(stats).toEqual({ n_itm: files.length, buff_size: onDisk });
  });
  const dump = await (await fetch(`${url}/dumpbuf`, { headers: stack.auth('reader') })).json();
  expect(dump).toEqual({ nmlist: files });
  expect(trains).toBeGreaterThan(0);
});

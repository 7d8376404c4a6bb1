// The gw-streamer (what `dbb gw stream FILE` runs) against the real stack over HTTP: the GWOSC sample
// file arrives chunk by chunk, and the buffer files put back together are the original series.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestStack, eventually, type TestStack } from './support/stack.ts';
import { createGwProcessor } from '../processors/gw/index.ts';
import { createGwProjection } from '../projections/gw/index.ts';
import { readStrainFile, streamFile } from '../producers/gw-streamer/index.ts';

let stack: TestStack;
let dataDir: string;
let url: string;

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'gw-stream-'));
  stack = await startTestStack({ consumers: (deps) => [createGwProcessor(deps), createGwProjection(deps)], env: { GW_DATA_DIR: dataDir } });
  url = await stack.listen();
});
afterAll(async () => {
  await stack?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

it.each([
  ['sample-H1.hdf5', false, 'default'],
  ['sample-H1.txt', true, 'H1-txt'],
])('streams %s (binary=%s) into datastore %s and the files rebuild the series', async (file, binary, datastore) => {
  const path = join(import.meta.dirname, 'fixtures', 'gw', file);
  const series = await readStrainFile(path);
  const summary = await streamFile(path, {
    url, token: stack.tokens.producer, chunkSamples: 1000, binary, concurrency: 1,
    datastore: datastore === 'default' ? undefined : datastore,
  });
  expect(summary).toMatchObject({ chunks: 9, created: 9, frozen: 0, samples: series.h.length });
  const base = datastore === 'default' ? '' : `/api/v1/gw/datastores/${datastore}`;
  const { nmlist } = await eventually(async () => {
    const d = await (await fetch(`${url}${base}/dumpbuf`, { headers: stack.auth('reader') })).json();
    expect(d.nmlist).toHaveLength(9);
    return d as { nmlist: string[] };
  });
  const h: number[] = [];
  for (const [k, name] of nmlist.entries()) {
    const doc = JSON.parse(await readFile(join(dataDir, datastore, 'data', name), 'utf8'));
    expect(doc.t).toEqual([series.t0 + k * 1000 * series.dt, series.dt]);
    h.push(...doc.h);
  }
  expect(Float64Array.from(h)).toEqual(series.h);
});

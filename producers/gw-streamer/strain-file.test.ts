import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { readStrainFile, parseStrainText } from './strain-file.ts';
import { sampleStrain, SAMPLE } from './generate-sample.ts';
import { chunksOf, streamSeries } from './stream.ts';

const FIX = join(import.meta.dirname, '..', '..', 'test', 'fixtures', 'gw');

describe('readStrainFile', () => {
  it('reads the GWOSC HDF5 and text fixtures to the same series', async () => {
    const [h5, txt] = await Promise.all([readStrainFile(join(FIX, 'sample-H1.hdf5')), readStrainFile(join(FIX, 'sample-H1.txt'))]);
    // the fixtures hold the generator's output as written when they were made; Math.pow may differ in
    // the last bit between V8 versions, so the files match each other exactly and the generator to 1e-12 of the peak
    const expected = sampleStrain();
    expect(txt.h).toEqual(h5.h);
    for (const s of [h5, txt]) {
      expect(s.t0).toBe(SAMPLE.t0);
      expect(s.dt).toBe(1 / SAMPLE.rate);
      expect(s.detector).toBe('H1');
      expect(s.h.length).toBe(expected.length);
      const peak = expected.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      const worst = s.h.reduce((m, v, i) => Math.max(m, Math.abs(v - expected[i]!)), 0);
      expect(worst / peak).toBeLessThan(1e-12);
    }
  });

  it('accepts two-column text (gwpy) and refuses text without timing', () => {
    expect(parseStrainText('10 1e-21\n10.5 2e-21\n11 3e-21\n')).toEqual({ t0: 10, dt: 0.5, h: new Float64Array([1e-21, 2e-21, 3e-21]), detector: undefined });
    expect(() => parseStrainText('1e-21\n2e-21\n')).toThrow(/starting GPS/);
    expect(() => parseStrainText('# starting GPS 5\n# 2 samples per second\n1\nabc\n')).toThrow(/value 2/);
  });
});

describe('streamSeries', () => {
  it('sends consecutive chunks with their own t0, as the seed GWclient', async () => {
    const series = { t0: 100, dt: 0.25, h: Float64Array.from({ length: 10 }, (_, i) => i) };
    expect([...chunksOf(series, 4)].map((c) => [c.t0, c.h.length])).toEqual([[100, 4], [101, 4], [102, 2]]);
    const sent: { url: string; body: unknown; type: string }[] = [];
    const fetchImpl = (async (url: string, init: RequestInit) => {
      const type = (init.headers as Record<string, string>)['content-type'];
      sent.push({ url, type, body: type === 'application/json' ? JSON.parse(init.body as string) : new Float64Array((init.body as Uint8Array).slice().buffer) });
      return new Response(JSON.stringify({ resp: sent.length < 3 ? 'CREATED' : 'FROZEN', body: {} }));
    }) as unknown as typeof fetch;
    const json = await streamSeries(series, { url: 'http://gw/', chunkSamples: 4, fetchImpl });
    expect(json).toMatchObject({ chunks: 3, created: 2, frozen: 1, samples: 10 });
    expect(sent[1]).toEqual({ url: 'http://gw/streamdata', type: 'application/json', body: { h: [4, 5, 6, 7], t: [101, 0.25] } });
    await streamSeries(series, { url: 'http://gw', chunkSamples: 4, binary: true, datastore: 'ds1', fetchImpl, maxChunks: 1 });
    expect(sent[3].url).toBe('http://gw/api/v1/gw/datastores/ds1/streamdata?t0=100&dt=0.25');
    expect(sent[3].body).toEqual(new Float64Array([0, 1, 2, 3]));
  });
});

describe('readStrainFile: chunk JSON, .npy and raw float64', () => {
  const h = Float64Array.from([1.5e-21, -2e-21, 3.25e-22, 0]);
  const withTmp = async (name: string, bytes: Uint8Array | string, fn: (path: string) => Promise<void>) => {
    const { mkdtemp, writeFile, rm } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const dir = await mkdtemp(join(tmpdir(), 'strain-file-'));
    try { await writeFile(join(dir, name), bytes); await fn(join(dir, name)); } finally { await rm(dir, { recursive: true, force: true }); }
  };

  it('reads a buffer chunk file (the seed body) with its own times', async () => {
    await withTmp('c.json', JSON.stringify({ h: [...h], t: [7, 0.5] }), async (p) => expect(await readStrainFile(p)).toEqual({ t0: 7, dt: 0.5, h }));
  });

  it('reads float64 and float32 .npy with the times given', async () => {
    const { dump } = await import('npyjs');
    await withTmp('s.npy', new Uint8Array(dump(h, [4], { dtype: 'f8' })), async (p) => {
      expect(await readStrainFile(p, { t0: 7, dt: 0.5 })).toEqual({ t0: 7, dt: 0.5, h });
      await expect(readStrainFile(p)).rejects.toThrow(/give t0/);
    });
    await withTmp('s32.npy', new Uint8Array(dump(Float32Array.from([1, 2.5]), [2], { dtype: 'f4' })), async (p) => {
      expect((await readStrainFile(p, { t0: 0, dt: 1 })).h).toEqual(Float64Array.from([1, 2.5]));
    });
  });

  it('reads raw little-endian float64 (.f64) with the times given, and refuses a torn file', async () => {
    const le = Buffer.alloc(32);
    h.forEach((v, i) => le.writeDoubleLE(v, i * 8));
    await withTmp('s.f64', le, async (p) => expect(await readStrainFile(p, { t0: 7, dt: 0.5 })).toEqual({ t0: 7, dt: 0.5, h }));
    await withTmp('s.f64', le.subarray(0, 12), async (p) => expect(readStrainFile(p, { t0: 7, dt: 0.5 })).rejects.toThrow(/whole number/));
  });
});

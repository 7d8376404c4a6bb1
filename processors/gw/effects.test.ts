import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtemp, readdir, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { archiveBatch, discardChunk, findArchivedBatch, findStoredChunk, storeChunk } from './effects.ts';
import { InvalidEventError } from '../../platform/errors.ts';
import { chunkJson, writeIncomingChunk } from '../../domains/gw/chunk-file.ts';
import { datastorePaths } from '../../domains/gw/paths.ts';
import type { StoreChunkEffect } from './rules.ts';

let root: string;
beforeEach(async () => { root = await mkdtemp(join(tmpdir(), 'gw-effects-')); });
afterEach(async () => { await rm(root, { recursive: true, force: true }); });

const effect = (fileName: string, xs = [1.5, -2e-21, 3]): StoreChunkEffect => ({
  kind: 'storeChunk', datastoreId: 'ds1', fileName, incoming: null, samples: new Float64Array(xs), nSamples: xs.length, t0: 1126259462.5, dt: 1 / 4096,
});

describe('storeChunk with a file the gateway wrote in incoming/', () => {
  const incoming = (xs: number[]) => writeIncomingChunk(root, 'ds1', new Float64Array(xs), 1126259462.5, 1 / 4096, 'json', false);
  const fromFile = (fileName: string, file: string): StoreChunkEffect => ({ ...effect(fileName), incoming: file, samples: null });

  it('renames it into data/ (made on the first chunk); a redelivery finds it stored', async () => {
    const file = incoming([1.5, -2e-21, 3]);
    const res = await storeChunk(fromFile('a.json', file), { root, fsync: false });
    const text = await readFile(join(root, 'ds1', 'data', 'a.json'), 'utf8');
    expect(text).toBe(chunkJson(new Float64Array([1.5, -2e-21, 3]), 1126259462.5, 1 / 4096));
    expect(res).toEqual({ bytes: text.length, path: join(root, 'ds1', 'data', 'a.json'), reconciled: false });
    expect(await readdir(datastorePaths(root, 'ds1').incoming)).toEqual([]);
    expect(await storeChunk(fromFile('a.json', file), { root, fsync: false })).toEqual({ ...res, reconciled: true });
  });

  it('dead-letters a chunk whose file is gone and was never stored', async () => {
    await expect(storeChunk(fromFile('a.json', 'f0e1d2c3-0000-4000-8000-000000000000.json'), { root, fsync: false })).rejects.toThrow(InvalidEventError);
  });

  it('discardChunk removes a refused chunk\'s file, and finds nothing to do the second time', async () => {
    const file = incoming([1]);
    const discard = { kind: 'discardChunk' as const, datastoreId: 'ds1', incoming: file };
    await discardChunk(discard, { root, fsync: false });
    await discardChunk(discard, { root, fsync: false });
    expect(await readdir(datastorePaths(root, 'ds1').incoming)).toEqual([]);
  });
});

describe('storeChunk', () => {
  it('writes the seed JSON format, readable with JSON.parse', async () => {
    const res = await storeChunk(effect('a.json'), { root, fsync: false });
    const text = await readFile(join(root, 'ds1', 'data', 'a.json'), 'utf8');
    expect(JSON.parse(text)).toEqual({ h: [1.5, -2e-21, 3], t: [1126259462.5, 1 / 4096] });
    expect(res).toEqual({ bytes: Buffer.byteLength(text), path: join(root, 'ds1', 'data', 'a.json'), reconciled: false });
    expect(await readdir(join(root, 'ds1', 'tmp'))).toEqual([]);
  });

  it('finds an existing file instead of writing it again', async () => {
    await storeChunk(effect('a.json'), { root, fsync: true });
    const again = await storeChunk(effect('a.json', [9]), { root, fsync: false });
    expect(again.reconciled).toBe(true);
    expect(JSON.parse(await readFile(again.path, 'utf8')).h).toEqual([1.5, -2e-21, 3]);
    expect(await findStoredChunk(effect('a.json'), { root, fsync: false })).toMatchObject({ reconciled: true, bytes: again.bytes });
    expect(await findStoredChunk(effect('b.json'), { root, fsync: false })).toBeNull();
  });

  it('recreates a buffer directory removed behind its back', async () => {
    await storeChunk(effect('a.json'), { root, fsync: false });
    await rm(join(root, 'ds1'), { recursive: true });
    await storeChunk(effect('b.json'), { root, fsync: false });
    expect(await readdir(join(root, 'ds1', 'data'))).toEqual(['b.json']);
  });
});

describe('archiveBatch', () => {
  const archive = { kind: 'archiveBatch' as const, datastoreId: 'ds1', archiveName: '2026-12-01T18-07_0001', msg: '' };

  it('moves exactly the stored files into the archive and leaves an empty buffer', async () => {
    const a = await storeChunk(effect('a.json'), { root, fsync: false });
    const b = await storeChunk(effect('b.json', [1, 2, 3, 4]), { root, fsync: false });
    const p = datastorePaths(root, 'ds1');
    await writeFile(join(p.tmp, 'partial.tmp'), 'x');
    const res = await archiveBatch(archive, { root, fsync: false });
    expect(res).toEqual({ archivePath: join(p.archive, archive.archiveName), nFiles: 2, bytes: a.bytes + b.bytes, reconciled: false });
    expect((await readdir(res.archivePath)).sort()).toEqual(['a.json', 'b.json']);
    expect(await readdir(p.data)).toEqual([]);
    const again = await archiveBatch(archive, { root, fsync: false });
    expect(again).toEqual({ ...res, reconciled: true });
    expect(await findArchivedBatch(archive, { root, fsync: false })).toEqual({ ...res, reconciled: true });
  });

  it('archives an empty buffer as an empty directory', async () => {
    const res = await archiveBatch(archive, { root, fsync: false });
    expect(res).toMatchObject({ nFiles: 0, bytes: 0 });
    await mkdir(join(root, 'other'));
    expect(await findArchivedBatch({ ...archive, archiveName: 'nope' }, { root, fsync: false })).toBeNull();
  });
});

it('chunkJson is plain JSON of the seed body', () => {
  expect(chunkJson(new Float64Array([0.1, 2]), 3, 0.5)).toBe('{"h":[0.1,2],"t":[3,0.5]}');
});

it("json-b64 files carry the float64le bytes as base64, readable with JSON.parse + base64", async () => {
  const xs = new Float64Array([1.5, -2e-21, 3]);
  const text = chunkJson(xs, 7, 0.5, 'json-b64');
  const doc = JSON.parse(text);
  expect(doc).toMatchObject({ dtype: 'float64le', n: 3, t: [7, 0.5] });
  const back = Buffer.from(doc.h_b64, 'base64');
  expect(new Float64Array(back.buffer, back.byteOffset, 3)).toEqual(xs);
});

import { expect, it } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chunkJson, INCOMING_MAX_AGE_MS, parseChunkJson, removeIncomingChunk, sweepIncoming, writeIncomingChunk } from './chunk-file.ts';
import { datastorePaths } from './paths.ts';

it.each(['json', 'json-b64'] as const)('reads back a %s chunk file exactly as written', (format) => {
  const h = Float64Array.from([1.5, -2.25e-21, 3, Number.MIN_VALUE, 0.1]);
  expect(parseChunkJson(chunkJson(h, 1126259462.5, 1 / 4096, format))).toEqual({ t0: 1126259462.5, dt: 1 / 4096, h });
});

it('refuses a file without t', () => {
  expect(() => parseChunkJson('{"h":[1]}')).toThrow(/t0, dt/);
});

it('sweeps only incoming files older than the chunk topic retention, in every datastore; removing a gone file is no error', () => {
  const root = mkdtempSync(join(tmpdir(), 'dbb-incoming-'));
  try {
    const fresh = writeIncomingChunk(root, 'a', Float64Array.of(1), 0, 1, 'json', false);
    const stale = writeIncomingChunk(root, 'b', Float64Array.of(2), 0, 1, 'json', false);
    const old = (Date.now() - INCOMING_MAX_AGE_MS - 60_000) / 1000;
    utimesSync(join(datastorePaths(root, 'b').incoming, stale), old, old);
    mkdirSync(datastorePaths(root, 'b').data, { recursive: true });
    writeFileSync(join(datastorePaths(root, 'b').data, 'stored.json'), '{}');
    utimesSync(join(datastorePaths(root, 'b').data, 'stored.json'), old, old); // the buffer is never swept
    expect(sweepIncoming(root)).toBe(1);
    expect(existsSync(join(datastorePaths(root, 'a').incoming, fresh))).toBe(true);
    expect(existsSync(join(datastorePaths(root, 'b').incoming, stale))).toBe(false);
    expect(existsSync(join(datastorePaths(root, 'b').data, 'stored.json'))).toBe(true);
    removeIncomingChunk(root, 'a', fresh);
    expect(existsSync(join(datastorePaths(root, 'a').incoming, fresh))).toBe(false);
    expect(() => removeIncomingChunk(root, 'a', fresh)).not.toThrow();
    expect(sweepIncoming(join(root, 'missing'))).toBe(0);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

// The worker-thread file reads of local_copy on real files: sha256 across chunk boundaries, byte compare.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { createHash, randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sameBytes, sha256Of } from './hash.ts';

let dir: string;
const data = randomBytes(9 * 1024 * 1024 + 17); // more than two of the worker's 4 MiB chunks
const files: Record<string, Buffer> = {
  copy: data,
  twin: Buffer.from(data),
  lastByte: Buffer.concat([data.subarray(0, -1), Buffer.from([data[data.length - 1]! ^ 1])]),
  shorter: data.subarray(0, data.length - 1),
  longer: Buffer.concat([data, Buffer.from([0])]),
  empty: Buffer.alloc(0),
};
const handles: Record<string, FileHandle> = {};

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'staging-hash-'));
  for (const [name, bytes] of Object.entries(files)) {
    writeFileSync(join(dir, name), bytes);
    handles[name] = await open(join(dir, name), 'r');
  }
});
afterAll(async () => {
  for (const h of Object.values(handles)) await h.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('local_copy file reads on worker threads', () => {
  it('hashes whole files, also across chunk boundaries and when empty', async () => {
    for (const name of ['copy', 'shorter', 'empty']) {
      expect(await sha256Of(handles[name]!)).toBe(createHash('sha256').update(files[name]!).digest('hex'));
    }
  });

  it('finds equal files equal and any difference in bytes or length', async () => {
    expect(await sameBytes(handles.copy!, handles.twin!)).toBe(true);
    expect(await sameBytes(handles.empty!, handles.empty!)).toBe(true);
    for (const other of ['lastByte', 'shorter', 'longer', 'empty']) {
      expect(await sameBytes(handles.copy!, handles[other]!)).toBe(false);
      expect(await sameBytes(handles[other]!, handles.copy!)).toBe(false);
    }
  });
});

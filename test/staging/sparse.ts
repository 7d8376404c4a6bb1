// Test helper: a large sparse file with a few random regions written, and checksums of those regions.
import { openSync, writeSync, ftruncateSync, closeSync, readSync } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';

export interface Region { offset: number; length: number; sha256: string }

/** Creates `size` bytes (holes everywhere except the returned regions) and returns the regions. */
export function makeSparseFile(path: string, size: number): Region[] {
  const fd = openSync(path, 'w');
  try {
    ftruncateSync(fd, size);
    const offsets = [0, Math.floor(size / 3), Math.floor(size / 2) + 12345, size - 65536];
    return offsets.map((offset) => {
      const buf = randomBytes(65536);
      writeSync(fd, buf, 0, buf.length, offset);
      return { offset, length: buf.length, sha256: createHash('sha256').update(buf).digest('hex') };
    });
  } finally {
    closeSync(fd);
  }
}

/** sha256 of each region as read back from `path` (plus one region inside a hole, which must be zeros). */
export function regionSums(path: string, regions: Region[]): string[] {
  const fd = openSync(path, 'r');
  try {
    return regions.map((r) => {
      const buf = Buffer.alloc(r.length);
      readSync(fd, buf, 0, r.length, r.offset);
      return createHash('sha256').update(buf).digest('hex');
    });
  } finally {
    closeSync(fd);
  }
}

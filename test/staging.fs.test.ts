// local_copy of a ≥1 GiB sparse file on real files: size, region checksums, read-only, no temp left.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { localCopy } from '../processors/staging/effects.ts';
import { loadStagingConfig } from '../domains/staging/config.ts';
import { makeSite, type Site } from './staging/fixture.ts';
import { makeSparseFile, regionSums, type Region } from './staging/sparse.ts';

const GiB = 1024 ** 3;
let site: Site;
let regions: Region[];

beforeAll(() => {
  site = makeSite();
  mkdirSync(join(site.root, 'big'));
  regions = makeSparseFile(join(site.root, 'big', 'sparse.bin'), GiB + 4096);
});
afterAll(() => site?.cleanup());

describe('staging local_copy on a large sparse file', () => {
  it('copies all bytes under the final name only, read-only', async () => {
    const cfg = loadStagingConfig(site.env);
    const res = await localCopy({ kind: 'local_copy', requestId: 'big-1', username: 'gina', source: ['big', 'sparse.bin'], dest: ['big', 'copy.bin'] }, { cfg, now: Date.now });
    expect(res).toMatchObject({ ok: true, skipped: false, sizeBytes: GiB + 4096 });
    const dest = join(site.area('gina'), 'big', 'copy.bin');
    expect(statSync(dest).size).toBe(GiB + 4096);
    expect(statSync(dest).mode & 0o777).toBe(0o444);
    expect(regionSums(dest, regions)).toEqual(regions.map((r) => r.sha256));
    // a hole reads back as zeros
    expect(regionSums(dest, [{ offset: GiB / 4, length: 4096, sha256: '' }])).toEqual(regionSums(join(site.root, 'big', 'sparse.bin'), [{ offset: GiB / 4, length: 4096, sha256: '' }]));
    expect(readdirSync(join(site.area('gina'), 'big'))).toEqual(['copy.bin']);
  });
});

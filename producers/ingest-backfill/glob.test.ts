import { describe, expect, it } from 'vitest';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expandSources, segmentRegex } from './glob.ts';
import { writeTree } from '../../test/fixtures/ingest/make.ts';

describe('backfill sources', () => {
  it('matches unix patterns per path segment', () => {
    expect(segmentRegex('2020-12-*').test('2020-12-31')).toBe(true);
    expect(segmentRegex('f?.fits').test('f1.fits')).toBe(true);
    expect(segmentRegex('f?.fits').test('f10.fits')).toBe(false);
    expect(segmentRegex('[!a]*.dat').test('b.dat')).toBe(true);
    expect(segmentRegex('[!a]*.dat').test('a.dat')).toBe(false);
    expect(segmentRegex('a.b').test('aXb')).toBe(false);
  });

  it('expands files, directories (recursively) and globs relative to storage, each file once', async () => {
    const root = await mkdtemp(join(tmpdir(), 'glob-'));
    await writeTree(root, { '2020-12-31/a/x.fits': '1', '2020-12-31/y.fits': '2', '2021-01-01/z.fits': '3', 'raw/q.dat': '4', '.dbb-finder/pending/j.json': '{}' });
    const rels = async (...s: string[]) => (await expandSources(root, s)).map((c) => c.rel);
    expect(await rels('2020-12-31')).toEqual(['2020-12-31/a/x.fits', '2020-12-31/y.fits']);
    expect(await rels('202?-*/*.fits', '2020-12-31/y.fits')).toEqual(['2020-12-31/y.fits', '2021-01-01/z.fits']);
    expect(await rels('**/*.dat')).toEqual(['raw/q.dat']);
    expect(await rels('.')).toEqual(['2020-12-31/a/x.fits', '2020-12-31/y.fits', '2021-01-01/z.fits', 'raw/q.dat']);
    expect(await rels('nothing-here')).toEqual([]);
    await expect(expandSources(root, ['/etc'])).rejects.toThrow(/relative to the storage area/);
    await expect(expandSources(root, ['../x'])).rejects.toThrow(/relative/);
  });
});

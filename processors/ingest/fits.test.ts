import { describe, expect, it } from 'vitest';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildHeader, parseHeader, parseValue, readFitsHeader, FitsError } from './fits.ts';

describe('FITS header reader', () => {
  it('parses strings with quotes, logicals, integers, floats with D exponents and comments', () => {
    expect(parseValue(" 'O''Brien '           / observer", 'OBSERVER')).toBe("O'Brien");
    expect(parseValue('                    T', 'SIMPLE')).toBe(true);
    expect(parseValue('                  -16 / bits', 'BITPIX')).toBe(-16);
    expect(parseValue('              1.5D+03', 'EXPTIME')).toBe(1500);
    expect(() => parseValue(" 'open", 'X')).toThrow(FitsError);
  });

  it('reads a primary header from a file and merges the first extension of an empty primary', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fits-'));
    const f = join(dir, 'a.fits');
    const primary = buildHeader([['BITPIX', 8], ['NAXIS', 0], ['EXTEND', true], ['INSTRUME', 'LATISS']]);
    const ext = buildHeader([['BITPIX', 8], ['NAXIS', 0], ['PCOUNT', 0], ['GCOUNT', 1], ['DATE-OBS', '2020-12-31T01:02:03'], ['INSTRUME', 'ignored']], { xtension: 'BINTABLE' });
    await writeFile(f, Buffer.concat([primary, ext]));
    const h = await readFitsHeader(f);
    expect(h).toMatchObject({ SIMPLE: true, INSTRUME: 'LATISS', 'DATE-OBS': '2020-12-31T01:02:03', XTENSION: 'BINTABLE' });
  });

  it('refuses files that are not FITS or are truncated', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fits-'));
    await writeFile(join(dir, 'x.fits'), Buffer.alloc(2880, 0x41));
    await expect(readFitsHeader(join(dir, 'x.fits'))).rejects.toThrow(/neither SIMPLE/);
    await writeFile(join(dir, 'y.fits'), buildHeader([['BITPIX', 8]]).subarray(0, 1000));
    await expect(readFitsHeader(join(dir, 'y.fits'))).rejects.toThrow(/truncated/);
    expect(parseHeader(Buffer.from('SIMPLE  =                    T'.padEnd(80)))).toBeNull();
  });
});

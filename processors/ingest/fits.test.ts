import { describe, expect, it } from 'vitest';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildHeader, parseHeader, parseValue, parseValueComment, readFitsCards, readFitsHeader, FitsError } from './fits.ts';

/** A header block from hand-written cards (each padded to 80 characters; END added). */
function block(...cards: string[]): Buffer {
  for (const c of cards) if (c.length > 80) throw new Error(`card longer than 80: ${c}`);
  const text = [...cards, 'END'].map((c) => c.padEnd(80)).join('');
  return Buffer.from(text.padEnd(Math.ceil(text.length / 2880) * 2880), 'latin1');
}
const parse = (...cards: string[]) => parseHeader(block('SIMPLE  =                    T', ...cards))!;
const cardsOf = (...cards: string[]) => parse(...cards).cards.slice(1).map(({ key, value, comment }) => ({ key, value, comment }));

describe('FITS header reader', () => {
  it('parses strings with quotes, logicals, integers, floats with D exponents and comments', () => {
    expect(parseValue(" 'O''Brien '           / observer", 'OBSERVER')).toBe("O'Brien");
    expect(parseValue('                    T', 'SIMPLE')).toBe(true);
    expect(parseValue('                  -16 / bits', 'BITPIX')).toBe(-16);
    expect(parseValue('              1.5D+03', 'EXPTIME')).toBe(1500);
    expect(() => parseValue(" 'open", 'X')).toThrow(FitsError);
  });

  it('reads values and comments the way astropy does', () => {
    const v = (field: string) => parseValueComment(field, 'K');
    expect(v("'a''b''''c'")).toEqual({ value: "a'b''c", comment: '', raw: "a''b''''c" });
    expect(v("'  lead and trail   '  /   a comment   ")).toMatchObject({ value: '  lead and trail', comment: 'a comment' });
    expect(v("'        '")).toMatchObject({ value: '' });
    expect(v("''")).toMatchObject({ value: '' });
    expect(v("'a/b' / c/d")).toMatchObject({ value: 'a/b', comment: 'c/d' });
    expect(v("'it'' / x'")).toMatchObject({ value: "it' / x", comment: '' }); // a '' pair never ends a string
    expect(v('T/ no space')).toEqual({ value: true, comment: 'no space' });
    expect(v('                    F')).toEqual({ value: false, comment: '' });
    expect(v('1.5D+03')).toMatchObject({ value: 1500 });
    expect(v('1.5d-3')).toMatchObject({ value: 0.0015 });
    expect(v('1.5 D+ 03')).toMatchObject({ value: 1500 });
    expect(v('-.5e-2 / c')).toEqual({ value: -0.005, comment: 'c' });
    expect(v('1.')).toMatchObject({ value: 1 });
    expect(v('+007')).toMatchObject({ value: 7 });
    expect(v('-0')).toMatchObject({ value: 0 });
    expect(Object.is(v('-0').value, 0)).toBe(true);
    expect(v('12345678901234567890')).toMatchObject({ value: '12345678901234567890' }); // exact, not rounded
    expect(v('-000123456789012345678901')).toMatchObject({ value: '-123456789012345678901' });
    expect(v('9007199254740991')).toMatchObject({ value: 9007199254740991 });
    expect(v('(1.5, -2.0) / z')).toEqual({ value: { re: 1.5, im: -2 }, comment: 'z' });
    expect(v('( 1 ,2 )')).toMatchObject({ value: { re: 1, im: 2 } });
    expect(v('')).toEqual({ value: null, comment: '' });
    expect(v('   / only a comment')).toEqual({ value: null, comment: 'only a comment' });
    for (const bad of ['TRUE', "'abc'def'", '1.5.3', 'T F', '(1, 2']) expect(() => v(bad), bad).toThrow(FitsError);
  });

  it('joins CONTINUE long strings (OGIP): pieces lose trailing spaces and one &, comments are joined', () => {
    const x = 'x'.repeat(66);
    expect(cardsOf(
      `LONGSTR = '${x}&'`,
      `CONTINUE  'yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy&'`,
      "CONTINUE  '' / a long one",
      "QA      = 'it''s &'  / p1",
      "CONTINUE  ' two''''&'",
      "CONTINUE  'end   ' /   p3  ",
      "NOCONT  = 'amp&'",
      "NUM     = 1",
    )).toEqual([
      { key: 'LONGSTR', value: `${x}${'y'.repeat(38)}`, comment: 'a long one' },
      { key: 'QA', value: "it's  two''end", comment: 'p1 p3' }, // '''' is two quotes (astropy 5.2 wrongly gives one)
      { key: 'NOCONT', value: 'amp&', comment: '' }, // a & without CONTINUE cards is kept
      { key: 'NUM', value: 1, comment: '' },
    ]);
    expect(parse(`LONGSTR = '${x}&'`, "CONTINUE  'tail'").header.LONGSTR).toHaveLength(70);
    expect(() => parse('NAXIS   =                    0', "CONTINUE  'x'")).toThrow(/does not follow a string/);
    expect(() => parse('COMMENT x', "CONTINUE  'x'")).toThrow(/does not follow a string/);
    expect(() => parse("S       = 'a&'", 'CONTINUE  12')).toThrow(/no string value/);
  });

  it('reads HIERARCH keywords as astropy names them (no prefix, value after the first =)', () => {
    const h = parse(
      "HIERARCH ESO DET CHIP NAME = 'CCD-1   '  / chip",
      'HIERARCH ESO TEL ALT = 45.5',
      'HIERARCH A B=4 / x',
      'HIERARCH lower case = T',
      "HIERARCH ESO OBS LONG = 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa&'",
      "CONTINUE  'bbb'",
      'HIERARCH constructor = 1',
    );
    expect(h.header).toMatchObject({ 'ESO DET CHIP NAME': 'CCD-1', 'ESO TEL ALT': 45.5, 'A B': 4, 'lower case': true, 'ESO OBS LONG': `${'a'.repeat(51)}bbb`, constructor: 1 });
    expect(h.cards[1]).toEqual({ key: 'ESO DET CHIP NAME', value: 'CCD-1', comment: 'chip', commentary: false });
    expect(h.cards[3]).toMatchObject({ key: 'A B', value: 4, comment: 'x' });
    expect(() => parse('HIERARCH = 1')).toThrow(/without a keyword/);
    expect(cardsOf('HIERARCH no equals sign')).toEqual([{ key: 'HIERARCH', value: ' no equals sign', comment: '' }]);
  });

  it('keeps commentary cards (COMMENT, HISTORY, blank, no value indicator) in order in the card list only', () => {
    const h = parse(
      'COMMENT first comment',
      'HISTORY hist   ',
      'COMMENT   indented',
      "COMMENT = 'not a value'",
      '        blank keyword text',
      '',
      "        = 'blank eq'",
      'NOEQ    this has no equals',
      'DUP     =                    1',
      'DUP     =                    2',
    );
    expect(h.cards.slice(1).map(({ key, value, comment, commentary }) => [key, value, comment, commentary])).toEqual([
      ['COMMENT', 'first comment', '', true],
      ['HISTORY', 'hist', '', true],
      ['COMMENT', '  indented', '', true],
      ['COMMENT', "= 'not a value'", '', true],
      ['', 'blank keyword text', '', true],
      ['', '', '', true],
      ['', "= 'blank eq'", '', true],
      ['NOEQ', 'this has no equals', '', true],
      ['DUP', 1, '', false],
      ['DUP', 2, '', false],
    ]);
    expect(h.header).toEqual({ SIMPLE: true, DUP: 1 }); // record: value keywords only, first occurrence wins
  });

  it('refuses illegal keywords and bytes', () => {
    expect(() => parse('lower   =                    1')).toThrow(/illegal keyword/);
    expect(() => parseHeader(Buffer.from('SIMPLE  =                    T\u0001'.padEnd(80), 'latin1'))).toThrow(/non-ASCII/);
  });

  it('builds headers with HIERARCH, CONTINUE and commentary cards that read back the same', () => {
    const long = `a 'quoted' ${'z'.repeat(150)} end`;
    const buf = buildHeader([['BITPIX', 8], ['NAXIS', 0], ['ESO DET CHIP NAME', 'CCD-1'], ['LONG', long], ['ESO INS LONG', long], ['COMMENT', 'hello'], ['HISTORY', null], ['Z', { re: 1, im: -2 }], ['BIG', 1.5e300]]);
    const { header, cards } = parseHeader(buf)!;
    expect(header).toEqual({ SIMPLE: true, BITPIX: 8, NAXIS: 0, 'ESO DET CHIP NAME': 'CCD-1', LONG: long, 'ESO INS LONG': long, Z: { re: 1, im: -2 }, BIG: 1.5e300 });
    expect(cards.filter((c) => c.commentary).map((c) => [c.key, c.value])).toEqual([['COMMENT', 'hello'], ['HISTORY', '']]);
    const text = buf.toString('latin1');
    expect(text).toContain("HIERARCH ESO DET CHIP NAME = 'CCD-1   '");
    expect(text.match(/CONTINUE {2}'/g)!.length).toBeGreaterThanOrEqual(4);
  });

  it('reads a primary header from a file and merges the first extension of an empty primary', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fits-'));
    const f = join(dir, 'a.fits');
    const primary = buildHeader([['BITPIX', 8], ['NAXIS', 0], ['EXTEND', true], ['INSTRUME', 'LATISS'], ['COMMENT', 'c']]);
    const ext = buildHeader([['BITPIX', 8], ['NAXIS', 0], ['PCOUNT', 0], ['GCOUNT', 1], ['DATE-OBS', '2020-12-31T01:02:03'], ['INSTRUME', 'ignored']], { xtension: 'BINTABLE' });
    await writeFile(f, Buffer.concat([primary, ext]));
    const h = await readFitsHeader(f);
    expect(h).toMatchObject({ SIMPLE: true, INSTRUME: 'LATISS', 'DATE-OBS': '2020-12-31T01:02:03', XTENSION: 'BINTABLE' });
    expect((await readFitsCards(f)).map((c) => c.key)).toEqual(['SIMPLE', 'BITPIX', 'NAXIS', 'EXTEND', 'INSTRUME', 'COMMENT']);
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

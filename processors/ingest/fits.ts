// A small strict FITS header reader (FITS 4.0 §3–4: 2880-byte blocks of 36 80-character ASCII cards,
// ended by END). Written here because the npm FITS readers (fitsjs, fits-reader-js) target browsers
// (Blob/FileReader) and are unmaintained; we only need header cards, not data.
//
// Cards are read the way astropy.io.fits reads them (cross-checked in test/ingest/fits.astropy.test.ts):
// - long strings (OGIP CONTINUE convention): CONTINUE cards after a string-valued card are joined to it; each
//   piece loses its trailing spaces and one trailing `&`; the comments of the pieces are joined with a space;
// - HIERARCH (ESO convention): `HIERARCH ESO DET CHIP NAME = 'x'` is the keyword `ESO DET CHIP NAME` (case kept,
//   spaces between words kept, no `HIERARCH ` prefix); its value follows the first `=`;
// - values: strings (`''` is a quote; trailing spaces dropped, leading kept, all-blank is ''), T/F, integers,
//   reals in E or D notation (spaces inside a number allowed), complex `(re, im)` as {re, im}, and an empty value
//   (undefined) as null; a comment follows a `/` (leading spaces after the `/` and trailing spaces dropped);
// - commentary cards (COMMENT, HISTORY, blank keyword, and any keyword without `= ` in columns 9–10): their value is
//   the text from column 9, trailing spaces dropped. They can repeat, so they appear only in the card list
//   (parseHeader().cards / readFitsCards), never in the keyword → value record (FitsHeader), which callers use
//   to look values up (the Registry plugin's data ids): a repeated value keyword keeps its first value there.
// Integers beyond ±(2^53 − 1) are returned as their exact decimal string, not a rounded number (they end up in
// JSON data ids). Where we follow the FITS standard rather than astropy: a `''` inside a CONTINUE'd long string is
// unescaped once (astropy ≤ 5.2.1 unescapes it twice, astropy#14581, fixed by #14598); a string ends at the first
// quote that is not part of a `''` pair (astropy's regex may end it at `'' /`, astropy#18831); a CONTINUE card not
// following a string value is an error (astropy glues it to the card before and fails on access). Record-valued
// keyword cards (`DP1 = 'AXIS.1: 1'`, WCS Paper IV) are read as plain strings; astropy makes keywords like `DP1.AXIS.1`.
import { open } from 'node:fs/promises';

export const BLOCK = 2880;
const CARD = 80;
const MAX_BLOCKS = 1000; // a header longer than 2.88 MB is not a FITS file we accept

export type FitsComplex = { re: number; im: number };
export type FitsValue = string | number | boolean | FitsComplex | null;
/** Value keywords → value (first occurrence); no commentary cards. */
export type FitsHeader = Record<string, FitsValue>;
/** One logical card in header order (a long string with its CONTINUE cards is one card). */
export interface FitsCard {
  key: string;
  value: FitsValue;
  comment: string;
  /** COMMENT, HISTORY, blank keyword or a keyword without a value indicator: `value` is the text */
  commentary: boolean;
}

export class FitsError extends Error {
  constructor(message: string) { super(message); this.name = 'FitsError'; }
}

const NUM = String.raw`[+-]? *(?:\.\d+|\d+(?:\.\d*)?) *(?:[EeDd] *[+-]? *\d+)?`;
const NUM_RE = new RegExp(`^(${NUM}) *(?:/ *(.*))?$`);
const CPLX_RE = new RegExp(`^\\( *(${NUM}) *, *(${NUM}) *\\) *(?:/ *(.*))?$`);
const REST_RE = /^ *(?:\/ *(.*))?$/; // what may follow a value: spaces, then an optional comment

function toNumber(raw: string): number | string {
  const s = raw.replace(/ /g, '');
  if (/^[+-]?\d+$/.test(s)) {
    const n = Number(s);
    if (Number.isSafeInteger(n)) return n === 0 ? 0 : n; // no -0
    const digits = s.replace(/^\+/, '').replace(/^(-?)0+(?=\d)/, '$1');
    return digits; // exact, as astropy's Python int would be
  }
  return Number(s.replace(/[Dd]/, 'E'));
}

/** Reads a quoted string at the start of `s` (which begins with `'`): the raw text between the quotes (escapes kept)
 *  and the rest after the closing quote. */
function readQuoted(s: string, keyword: string): { raw: string; rest: string } {
  for (let i = 1; i < s.length; i++) {
    if (s[i] !== "'") continue;
    if (s[i + 1] === "'") { i++; continue; }
    return { raw: s.slice(1, i), rest: s.slice(i + 1) };
  }
  throw new FitsError(`${keyword}: unterminated string value`);
}

const comment = (c: string | undefined) => (c ?? '').trimEnd();

/** Parses a value field (what follows the value indicator) into value and comment. */
export function parseValueComment(field: string, keyword: string): { value: FitsValue; comment: string; raw?: string } {
  const s = field.trim();
  if (s.startsWith("'")) {
    const { raw, rest } = readQuoted(s, keyword);
    const m = REST_RE.exec(rest);
    if (!m) throw new FitsError(`${keyword}: unexpected text after string value: ${JSON.stringify(rest.trim())}`);
    return { value: raw.replace(/''/g, "'").trimEnd(), comment: comment(m[1]), raw };
  }
  let m = /^([TF])(?: *$| *\/ *(.*)$)/.exec(s);
  if (m) return { value: m[1] === 'T', comment: comment(m[2]) };
  m = NUM_RE.exec(s);
  if (m) return { value: toNumber(m[1]), comment: comment(m[2]) };
  m = CPLX_RE.exec(s);
  if (m) return { value: { re: Number(toNumber(m[1])), im: Number(toNumber(m[2])) }, comment: comment(m[3]) };
  m = REST_RE.exec(s);
  if (m) return { value: null, comment: comment(m[1]) };
  throw new FitsError(`${keyword}: cannot parse value ${JSON.stringify(s)}`);
}

/** Parses the value field (columns 11–80) of a card; the comment is dropped. */
export function parseValue(field: string, keyword: string): FitsValue {
  return parseValueComment(field, keyword).value;
}

const COMMENTARY = new Set(['COMMENT', 'HISTORY', '']);

/** Parses header cards from `buf` starting at `offset`; returns the header record, the cards in order and the offset
 *  just past END's block, or null if END is not in `buf`. */
export function parseHeader(buf: Buffer, offset = 0): { header: FitsHeader; cards: FitsCard[]; end: number } | null {
  const cards: FitsCard[] = [];
  // the long string being assembled from CONTINUE cards: its card, pieces and comments
  let long: { card: FitsCard; pieces: string[]; comments: string[] } | null = null;
  const finishLong = () => {
    if (!long) return;
    if (long.pieces.length > 1) {
      long.card.value = long.pieces.join('').trimEnd();
      long.card.comment = long.comments.filter(Boolean).join(' ').trimEnd();
    }
    long = null;
  };
  const piece = (raw: string) => raw.trimEnd().replace(/''/g, "'").replace(/&$/, '');
  for (let pos = offset; pos + CARD <= buf.length; pos += CARD) {
    const card = buf.subarray(pos, pos + CARD);
    for (const b of card) if (b < 0x20 || b > 0x7e) throw new FitsError(`non-ASCII byte 0x${b.toString(16)} in header card at byte ${pos}`);
    const text = card.toString('latin1');
    const keyword = text.slice(0, 8).trimEnd();
    if (pos === offset && keyword !== 'SIMPLE' && keyword !== 'XTENSION') throw new FitsError('not a FITS header: first card is neither SIMPLE nor XTENSION');
    if (keyword === 'CONTINUE') {
      if (!long) throw new FitsError(`CONTINUE card at byte ${pos} does not follow a string value`);
      const v = parseValueComment(text.slice(8), 'CONTINUE');
      if (v.raw === undefined) throw new FitsError(`CONTINUE card at byte ${pos} has no string value`);
      long.pieces.push(piece(v.raw));
      long.comments.push(v.comment);
      continue;
    }
    finishLong();
    if (keyword === 'END') {
      const used = pos + CARD - offset;
      return { header: headerOf(cards), cards, end: offset + Math.ceil(used / BLOCK) * BLOCK };
    }
    if (!/^[A-Z0-9_-]*$/.test(keyword)) throw new FitsError(`illegal keyword ${JSON.stringify(keyword)} at byte ${pos}`);
    let key = keyword;
    let field: string | null = null;
    if (keyword === 'HIERARCH' && text[8] === ' ' && text.includes('=')) {
      const eq = text.indexOf('=');
      key = text.slice(9, eq).trim();
      if (!key) throw new FitsError(`HIERARCH card without a keyword at byte ${pos}`);
      field = text.slice(eq + 1);
    } else if (!COMMENTARY.has(keyword) && text.slice(8, 10) === '= ') {
      field = text.slice(10);
    }
    if (field === null) {
      cards.push({ key, value: text.slice(8).trimEnd(), comment: '', commentary: true });
      continue;
    }
    const v = parseValueComment(field, key);
    const c: FitsCard = { key, value: v.value, comment: v.comment, commentary: false };
    cards.push(c);
    if (v.raw !== undefined) long = { card: c, pieces: [piece(v.raw)], comments: [v.comment] };
  }
  return null;
}

/** The header record of `cards`: value keywords only, first occurrence wins. */
export function headerOf(cards: FitsCard[]): FitsHeader {
  const header: FitsHeader = Object.create(null); // a HIERARCH keyword may be any text, even `constructor`
  for (const c of cards) if (!c.commentary && !Object.hasOwn(header, c.key)) header[c.key] = c.value;
  return header;
}

function dataSize(h: FitsHeader): number {
  const naxis = Number(h.NAXIS ?? 0);
  if (naxis === 0) return 0;
  let n = 1;
  for (let i = 1; i <= naxis; i++) n *= Number(h[`NAXIS${i}`] ?? 0);
  const bytes = (Math.abs(Number(h.BITPIX ?? 8)) / 8) * Number(h.GCOUNT ?? 1) * (Number(h.PCOUNT ?? 0) + n);
  return Math.ceil(bytes / BLOCK) * BLOCK;
}

async function readHduHeader(fh: import('node:fs/promises').FileHandle, start: number, what: string): Promise<{ header: FitsHeader; cards: FitsCard[]; end: number }> {
  let buf = Buffer.alloc(0);
  for (let i = 0; i < MAX_BLOCKS; i++) {
    const block = Buffer.alloc(BLOCK);
    const { bytesRead } = await fh.read(block, 0, BLOCK, start + i * BLOCK);
    if (bytesRead < BLOCK) throw new FitsError(`${what}: truncated header (no END card)`);
    buf = Buffer.concat([buf, block]);
    const parsed = parseHeader(buf);
    if (parsed) return { header: parsed.header, cards: parsed.cards, end: start + parsed.end };
  }
  throw new FitsError(`${what}: header longer than ${MAX_BLOCKS} blocks`);
}

/** Reads the primary header's cards, in order (long strings joined; commentary cards included). */
export async function readFitsCards(path: string): Promise<FitsCard[]> {
  const fh = await open(path, 'r');
  try {
    return (await readHduHeader(fh, 0, path)).cards;
  } finally {
    await fh.close();
  }
}

/** Reads the primary header; when the primary HDU is empty (NAXIS = 0, EXTEND = T, e.g. tile-compressed
 *  .fits.fz), keys of the first extension's header fill in what the primary lacks. */
export async function readFitsHeader(path: string): Promise<FitsHeader> {
  const fh = await open(path, 'r');
  try {
    const primary = await readHduHeader(fh, 0, path);
    if (primary.header.SIMPLE !== true) throw new FitsError(`${path}: SIMPLE is not T`);
    if (Number(primary.header.NAXIS ?? 0) !== 0 || primary.header.EXTEND !== true) return primary.header;
    const { size } = await fh.stat();
    const next = primary.end + dataSize(primary.header);
    if (next >= size) return primary.header;
    const ext = await readHduHeader(fh, next, `${path} (extension 1)`);
    return { ...ext.header, ...primary.header };
  } finally {
    await fh.close();
  }
}

/** Builds a FITS header (for fixtures and tests): cards padded to 80 chars, END, padded to a block. Keys longer than
 *  8 characters or not [A-Z0-9_-] are written as HIERARCH cards, strings too long for one card as CONTINUE cards,
 *  COMMENT / HISTORY / '' as commentary cards (their value is the text; null for none). */
export function buildHeader(cards: [string, FitsValue][], opts: { xtension?: string } = {}): Buffer {
  const fmt = (k: string, v: FitsValue): string => {
    if (COMMENTARY.has(k)) {
      if (v !== null && typeof v !== 'string') throw new FitsError(`${k}: commentary value must be text`);
      return `${k.padEnd(8)}${v ?? ''}`.padEnd(CARD).slice(0, CARD);
    }
    const hierarch = !/^[A-Z0-9_-]{1,8}$/.test(k);
    const prefix = hierarch ? `HIERARCH ${k} = ` : `${k.padEnd(8)}= `;
    if (typeof v !== 'string') {
      const val = typeof v === 'boolean' ? (v ? 'T' : 'F') : v === null ? '' : typeof v === 'object' ? `(${v.re}, ${v.im})` : String(v);
      const card = hierarch ? prefix + val : prefix + val.padStart(20);
      if (card.length > CARD) throw new FitsError(`${k}: card longer than ${CARD} characters`);
      return card.padEnd(CARD);
    }
    const one = `${prefix}${`'${v.replace(/'/g, "''").padEnd(8)}'`.padEnd(20)}`;
    if (one.length <= CARD) return one.padEnd(CARD);
    // OGIP long string: pieces ending in `&`, never splitting a '' escape
    const out: string[] = [];
    let head = prefix;
    let piece = '';
    for (const ch of v) {
      const esc = ch === "'" ? "''" : ch;
      if (head.length + 1 + piece.length + esc.length + 2 > CARD) {
        if (!piece) throw new FitsError(`${k}: keyword too long for a string card`);
        out.push(`${head}'${piece}&'`.padEnd(CARD));
        head = 'CONTINUE  ';
        piece = '';
      }
      piece += esc;
    }
    out.push(`${head}'${piece}'`.padEnd(CARD));
    return out.join('');
  };
  const first: [string, FitsValue][] = opts.xtension ? [['XTENSION', opts.xtension]] : [['SIMPLE', true]];
  const text = [...first, ...cards].map(([k, v]) => fmt(k, v)).join('') + 'END'.padEnd(CARD);
  return Buffer.from(text.padEnd(Math.ceil(text.length / BLOCK) * BLOCK, ' '), 'latin1');
}

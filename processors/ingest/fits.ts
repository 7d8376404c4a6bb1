// A small strict FITS header reader (FITS 4.0 §3–4: 2880-byte blocks of 36 80-character ASCII cards,
// ended by END). Written here because the npm FITS readers (fitsjs, fits-reader-js) target browsers
// (Blob/FileReader) and are unmaintained; we only need header cards, not data.
import { open } from 'node:fs/promises';

export const BLOCK = 2880;
const CARD = 80;
const MAX_BLOCKS = 1000; // a header longer than 2.88 MB is not a FITS file we accept

export type FitsValue = string | number | boolean | null;
export type FitsHeader = Record<string, FitsValue>;

export class FitsError extends Error {
  constructor(message: string) { super(message); this.name = 'FitsError'; }
}

/** Parses the value field (columns 11–80) of a card. */
export function parseValue(field: string, keyword: string): FitsValue {
  const s = field.trimStart();
  if (s.startsWith("'")) {
    let out = '';
    for (let i = 1; i < s.length; i++) {
      if (s[i] === "'") {
        if (s[i + 1] === "'") { out += "'"; i++; continue; }
        return out.replace(/\s+$/, '');
      }
      out += s[i];
    }
    throw new FitsError(`${keyword}: unterminated string value`);
  }
  const raw = s.split('/')[0].trim();
  if (raw === '') return null;
  if (raw === 'T') return true;
  if (raw === 'F') return false;
  if (/^[+-]?\d+$/.test(raw)) return Number(raw);
  if (/^[+-]?(\d+\.?\d*|\.\d+)([EeDd][+-]?\d+)?$/.test(raw)) return Number(raw.replace(/[Dd]/, 'E'));
  if (/^\(.*\)$/.test(raw)) return raw; // complex: kept as text
  throw new FitsError(`${keyword}: cannot parse value ${JSON.stringify(raw)}`);
}

/** Parses header cards from `buf` starting at `offset`; returns the header and the offset just past END's block, or null if END is not in `buf`. */
export function parseHeader(buf: Buffer, offset = 0): { header: FitsHeader; end: number } | null {
  const header: FitsHeader = {};
  for (let pos = offset; pos + CARD <= buf.length; pos += CARD) {
    const card = buf.subarray(pos, pos + CARD);
    for (const b of card) if (b < 0x20 || b > 0x7e) throw new FitsError(`non-ASCII byte 0x${b.toString(16)} in header card at byte ${pos}`);
    const text = card.toString('latin1');
    const keyword = text.slice(0, 8).trimEnd();
    if (pos === offset && keyword !== 'SIMPLE' && keyword !== 'XTENSION') throw new FitsError('not a FITS header: first card is neither SIMPLE nor XTENSION');
    if (keyword === 'END') {
      const used = pos + CARD - offset;
      return { header, end: offset + Math.ceil(used / BLOCK) * BLOCK };
    }
    if (!/^[A-Z0-9_-]*$/.test(keyword)) throw new FitsError(`illegal keyword ${JSON.stringify(keyword)} at byte ${pos}`);
    if (text.slice(8, 10) !== '= ' || keyword === 'COMMENT' || keyword === 'HISTORY' || keyword === '') continue;
    if (!(keyword in header)) header[keyword] = parseValue(text.slice(10), keyword);
  }
  return null;
}

function dataSize(h: FitsHeader): number {
  const naxis = Number(h.NAXIS ?? 0);
  if (naxis === 0) return 0;
  let n = 1;
  for (let i = 1; i <= naxis; i++) n *= Number(h[`NAXIS${i}`] ?? 0);
  const bytes = (Math.abs(Number(h.BITPIX ?? 8)) / 8) * Number(h.GCOUNT ?? 1) * (Number(h.PCOUNT ?? 0) + n);
  return Math.ceil(bytes / BLOCK) * BLOCK;
}

async function readHduHeader(fh: import('node:fs/promises').FileHandle, start: number, what: string): Promise<{ header: FitsHeader; end: number }> {
  let buf = Buffer.alloc(0);
  for (let i = 0; i < MAX_BLOCKS; i++) {
    const block = Buffer.alloc(BLOCK);
    const { bytesRead } = await fh.read(block, 0, BLOCK, start + i * BLOCK);
    if (bytesRead < BLOCK) throw new FitsError(`${what}: truncated header (no END card)`);
    buf = Buffer.concat([buf, block]);
    const parsed = parseHeader(buf);
    if (parsed) return { header: parsed.header, end: start + parsed.end };
  }
  throw new FitsError(`${what}: header longer than ${MAX_BLOCKS} blocks`);
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

/** Builds a FITS header (for fixtures and tests): cards padded to 80 chars, END, padded to a block. */
export function buildHeader(cards: [string, FitsValue][], opts: { xtension?: string } = {}): Buffer {
  const fmt = (k: string, v: FitsValue) => {
    const val = typeof v === 'string' ? `'${v.replace(/'/g, "''").padEnd(8)}'` : typeof v === 'boolean' ? (v ? 'T' : 'F') : v === null ? '' : String(v);
    return `${k.padEnd(8)}= ${typeof v === 'string' ? val.padEnd(20) : val.padStart(20)}`.padEnd(CARD).slice(0, CARD);
  };
  const first: [string, FitsValue][] = opts.xtension ? [['XTENSION', opts.xtension]] : [['SIMPLE', true]];
  const text = [...first, ...cards].map(([k, v]) => fmt(k, v)).join('') + 'END'.padEnd(CARD);
  return Buffer.from(text.padEnd(Math.ceil(text.length / BLOCK) * BLOCK, ' '), 'latin1');
}

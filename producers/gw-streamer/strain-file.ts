// Reads GW strain time series in the GWOSC file formats: HDF5 (/strain/Strain with Xstart/Xspacing, via
// h5wasm) and the plain text form (a "# ... N samples per second / starting GPS T" header, one value per
// line; two columns "time value" as written by gwpy are accepted too); also a chunk file of the buffer
// (the seed's {"h":[...],"t":[t0,dt]}), NumPy .npy (float64/float32, via npyjs) and raw little-endian
// float64 — the last two carry no times, so they need t0 and dt from the caller.
import { readFile } from 'node:fs/promises';
import { parseChunkJson } from '../../domains/gw/chunk-file.ts';

export interface StrainSeries {
  /** GPS time of the first sample, s */
  t0: number;
  /** sample spacing, s */
  dt: number;
  h: Float64Array;
  detector?: string;
}

const isHdf5 = (head: Buffer) => head.subarray(0, 8).equals(Buffer.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]));

const isNpy = (head: Buffer) => head.subarray(0, 6).equals(Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]));
const RAW_F64 = /\.(f64|raw|bin)$/i;

/** `times`: t0 (GPS s) and dt (s) for the formats that do not carry them (.npy, raw float64). */
export async function readStrainFile(path: string, times: { t0?: number; dt?: number } = {}): Promise<StrainSeries> {
  const raw = await readFile(path);
  if (isHdf5(raw)) return readHdf5(path);
  if (isNpy(raw)) return withTimes(path, await readNpy(path, raw), times);
  if (RAW_F64.test(path)) return withTimes(path, readRawF64(path, raw), times);
  if (raw.subarray(0, 64).toString('utf8').trimStart().startsWith('{')) return parseChunkJson(raw.toString('utf8'));
  return parseStrainText(raw.toString('utf8'));
}

function withTimes(path: string, h: Float64Array, times: { t0?: number; dt?: number }): StrainSeries {
  const { t0, dt } = times;
  if (t0 === undefined || dt === undefined || !Number.isFinite(t0) || !(dt > 0)) throw new Error(`${path}: the file has no times; give t0 (GPS s) and dt > 0 (s)`);
  const bad = h.findIndex((v) => !Number.isFinite(v));
  if (bad >= 0) throw new Error(`${path}: sample ${bad} is not a finite number`);
  return { t0, dt, h };
}

async function readNpy(path: string, raw: Buffer): Promise<Float64Array> {
  const { parse } = await import('npyjs');
  const a = parse(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength) as ArrayBuffer);
  if (a.dtype !== 'f8' && a.dtype !== 'f4') throw new Error(`${path}: .npy of ${a.dtype}; strain is float64 or float32`);
  if (a.shape.length !== 1) throw new Error(`${path}: .npy of shape (${a.shape.join(', ')}); strain is one-dimensional`);
  return Float64Array.from(a.data as Float64Array | Float32Array);
}

function readRawF64(path: string, raw: Buffer): Float64Array {
  if (raw.length % 8 !== 0) throw new Error(`${path}: ${raw.length} bytes is not a whole number of float64 samples`);
  const h = new Float64Array(raw.length / 8);
  for (let i = 0; i < h.length; i++) h[i] = raw.readDoubleLE(i * 8);
  return h;
}

async function readHdf5(path: string): Promise<StrainSeries> {
  const h5wasm = await import('h5wasm/node');
  await h5wasm.ready;
  const f = new h5wasm.File(path, 'r');
  try {
    const ds = f.get('strain/Strain') as import('h5wasm/node').Dataset | null;
    if (!ds || !('value' in ds)) throw new Error(`${path}: no /strain/Strain dataset (not a GWOSC strain file)`);
    const attrs = ds.attrs as Record<string, { value: unknown }>;
    const num = (v: unknown) => (typeof v === 'bigint' ? Number(v) : Number(Array.isArray(v) || ArrayBuffer.isView(v) ? (v as ArrayLike<number>)[0] : v));
    const meta = (name: string) => (f.get(`meta/${name}`) as { value?: unknown } | null)?.value;
    const dt = num(attrs.Xspacing?.value);
    const t0 = attrs.Xstart ? num(attrs.Xstart.value) : num(meta('GPSstart'));
    if (!(dt > 0) || !Number.isFinite(t0)) throw new Error(`${path}: /strain/Strain lacks Xspacing/Xstart`);
    const h = Float64Array.from(ds.value as ArrayLike<number>);
    const det = meta('Detector');
    return { t0, dt, h, detector: typeof det === 'string' ? det : undefined };
  } finally {
    f.close();
  }
}

export function parseStrainText(text: string, defaults: { t0?: number; dt?: number } = {}): StrainSeries {
  let t0 = defaults.t0;
  let dt = defaults.dt;
  let detector: string | undefined;
  const values: number[] = [];
  const times: number[] = [];
  for (const line of text.split('\n')) {
    const s = line.trim();
    if (!s) continue;
    if (s.startsWith('#') || s.startsWith('%')) {
      const rate = /([\d.]+)\s+samples per second/i.exec(s);
      if (rate) dt = 1 / Number(rate[1]);
      const start = /starting GPS\s+([\d.eE+-]+)/i.exec(s);
      if (start) t0 = Number(start[1]);
      const det = /strain for\s+(\w+)/i.exec(s) ?? /detector\s*[:=]?\s*(\w\d)/i.exec(s);
      if (det) detector = det[1];
      continue;
    }
    const cols = s.split(/[\s,]+/);
    if (cols.length >= 2) { times.push(Number(cols[0])); values.push(Number(cols[1])); } else values.push(Number(cols[0]));
  }
  if (times.length >= 2) { t0 ??= times[0]; dt ??= times[1] - times[0]; }
  if (t0 === undefined || dt === undefined || !(dt > 0)) throw new Error('strain text needs a "starting GPS <t0>" and "<N> samples per second" header, or two columns');
  const h = Float64Array.from(values);
  const i = h.findIndex((x) => !Number.isFinite(x));
  if (i >= 0) throw new Error(`strain text: value ${i + 1} is not a number`);
  return { t0, dt, h, detector };
}

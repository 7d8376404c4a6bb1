// Cuts the samples of [t0, t1) out of stored chunks (GET .../strain): one sample grid for the window,
// each chunk placed on it, and the grid points no chunk covers are gaps. Pure: the chunks' samples are
// handed in; the route reads the files.
//
// Floating point: a chunk's sample j is at time chunk.t0 + j*dt. Times are compared on the grid of the
// window's reference chunk, with a tolerance of dt/2: a sample belongs to [t0, t1) iff
// t0 - dt/2 <= t < t1 - dt/2. So every instant falls in exactly one sample's cell, adjacent windows
// [a, b) and [b, c) split the samples of [a, c) with none lost or repeated, and t0/t1 a rounding error
// off a sample time (GPS 1e9 s has a resolution of ~1e-7 s) still select that sample.
import { BadRequestError } from '../../platform/errors.ts';

/** A stored chunk as the projection indexes it. `order` ranks storage order: the later chunk wins where two overlap. */
export interface ChunkSpan { t0: number; dt: number; n: number; order: number }

/** Samples of `chunk` [from, from+count) go to the window's samples [at, at+count). */
export interface Placement<C extends ChunkSpan> { chunk: C; from: number; at: number; count: number }

export interface WindowPlan<C extends ChunkSpan> {
  /** time of the window's first sample (on the grid), s */
  t0: number;
  dt: number;
  /** samples in the window */
  n: number;
  placements: Placement<C>[];
}

/** Relative dt difference above which two chunks are not on one grid. */
export const DT_TOLERANCE = 1e-9;
/** A chunk whose t0 is more than this fraction of dt off the grid is on another grid (phase). */
export const PHASE_TOLERANCE = 0.1;

/** Index of the first grid sample at or after `t` (tolerance dt/2), on the grid origin + i*dt. */
export const firstIndexAtOrAfter = (t: number, origin: number, dt: number) => Math.ceil((t - origin) / dt - 0.5);

/**
 * Plans the window [t0, t1): the grid is the earliest-starting chunk that overlaps it, or `fallback`
 * (a chunk near it) when none does, so an all-gap window still has a grid. Throws
 * DBB_GW_MIXED_SAMPLING when the chunks in range are not on one grid and DBB_GW_RANGE_TOO_LARGE
 * above `maxSamples`.
 */
export function planWindow<C extends ChunkSpan>(req: { t0: number; t1: number }, chunks: C[], fallback: ChunkSpan, maxSamples: number): WindowPlan<C> {
  const overlapping = chunks.filter((c) => c.t0 + c.dt / 2 < req.t1 && c.t0 + (c.n - 0.5) * c.dt >= req.t0);
  const ref = overlapping.reduce<ChunkSpan>((a, c) => (c.t0 < a.t0 ? c : a), overlapping[0] ?? fallback);
  const { dt } = ref;
  const iStart = firstIndexAtOrAfter(req.t0, ref.t0, dt);
  const n = Math.max(0, firstIndexAtOrAfter(req.t1, ref.t0, dt) - iStart);
  if (n > maxSamples) {
    throw new BadRequestError('DBB_GW_RANGE_TOO_LARGE', `[t0, t1) holds ${n} samples at dt=${dt}; at most ${maxSamples} (GW_READ_MAX_SAMPLES) per request`);
  }
  const placements: Placement<C>[] = [];
  for (const c of [...overlapping].sort((a, b) => a.order - b.order)) {
    if (Math.abs(c.dt - dt) > DT_TOLERANCE * dt) {
      throw new BadRequestError('DBB_GW_MIXED_SAMPLING', `chunks in [t0, t1) have dt ${dt} and ${c.dt}; read the two ranges separately`);
    }
    const offset = (c.t0 - ref.t0) / dt;
    const k = Math.round(offset);
    if (Math.abs(offset - k) > PHASE_TOLERANCE) {
      throw new BadRequestError('DBB_GW_MIXED_SAMPLING', `a chunk at t0=${c.t0} is ${(offset - k).toFixed(3)} samples off the grid of the chunk at t0=${ref.t0}`);
    }
    const from = Math.max(0, iStart - k);
    const to = Math.min(c.n, iStart + n - k);
    if (from < to) placements.push({ chunk: c, from, at: k + from - iStart, count: to - from });
  }
  return { t0: ref.t0 + iStart * dt, dt, n, placements };
}

/** The window's samples (NaN where no chunk covers the grid) and its gaps as half-open index ranges. */
export function fillWindow<C extends ChunkSpan>(plan: WindowPlan<C>, samplesOf: (chunk: C) => Float64Array): { h: Float64Array; gaps: [number, number][] } {
  const h = new Float64Array(plan.n).fill(NaN);
  for (const p of plan.placements) h.set(samplesOf(p.chunk).subarray(p.from, p.from + p.count), p.at);
  return { h, gaps: gapsOf(h) };
}

/** Runs of NaN as [start, end) index ranges: stored samples are always finite, so NaN marks a gap. */
export function gapsOf(h: Float64Array): [number, number][] {
  const gaps: [number, number][] = [];
  let start = -1;
  for (let i = 0; i <= h.length; i++) {
    const gap = i < h.length && Number.isNaN(h[i]);
    if (gap && start < 0) start = i;
    else if (!gap && start >= 0) { gaps.push([start, i]); start = -1; }
  }
  return gaps;
}

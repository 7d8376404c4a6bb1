import { describe, expect, it } from 'vitest';
import { fillWindow, gapsOf, planWindow, type ChunkSpan } from './strain-window.ts';

const DT = 1 / 4096;
const T = 1126259462;
// chunk k holds samples k*N .. k*N+N-1 of the series x(i) = i + 1 (never NaN, never 0)
const N = 8;
const chunk = (k: number, order = k, dt = DT, shift = 0): ChunkSpan & { k: number } => ({ t0: T + k * N * DT + shift, dt, n: N, order, k });
const samplesOf = (c: ChunkSpan & { k: number }) => Float64Array.from({ length: c.n }, (_, j) => c.k * N + j + 1);
const series = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i + 1);
const read = (t0: number, t1: number, chunks: (ChunkSpan & { k: number })[], max = 1000) => {
  const plan = planWindow({ t0, t1 }, chunks, chunks[0], max);
  return { plan, ...fillWindow(plan, samplesOf) };
};
const at = (i: number) => T + i * DT;

describe('planWindow + fillWindow', () => {
  it('given contiguous chunks, when [t0, t1) cuts inside two of them, then it returns exactly those samples', () => {
    const { plan, h, gaps } = read(at(5), at(19), [chunk(0), chunk(1), chunk(2)]);
    expect(plan.t0).toBe(at(5));
    expect(plan.n).toBe(14);
    expect([...h]).toEqual(series(5, 19));
    expect(gaps).toEqual([]);
  });

  it('given a missing chunk, when the window spans it, then its samples are NaN and listed as one gap', () => {
    const { h, gaps } = read(at(4), at(32), [chunk(0), chunk(1), chunk(3)]);
    expect(gaps).toEqual([[12, 20]]);
    expect([...h.subarray(0, 12)]).toEqual(series(4, 16));
    expect([...h.subarray(12, 20)].every(Number.isNaN)).toBe(true);
    expect([...h.subarray(20)]).toEqual(series(24, 32));
  });

  it('given t0/t1 a rounding error off a sample time, then the same samples are selected (tolerance dt/2)', () => {
    const exact = read(at(5), at(19), [chunk(0), chunk(1), chunk(2)]);
    for (const eps of [1e-7, -1e-7, 0.49 * DT, -0.49 * DT]) {
      const r = read(at(5) + eps, at(19) + eps, [chunk(0), chunk(1), chunk(2)]);
      expect([...r.h]).toEqual([...exact.h]);
      expect(r.plan.t0).toBe(exact.plan.t0);
    }
  });

  it('given any split point, adjacent windows [a, b) and [b, c) together are [a, c), nothing lost or repeated', () => {
    const chunks = [chunk(0), chunk(1), chunk(2), chunk(3)];
    const whole = read(at(2), at(30), chunks);
    for (const b of [at(2), at(9) + 0.3 * DT, at(16) + 0.5 * DT, at(16) - 0.5 * DT, at(23) + 0.7 * DT, at(30)]) {
      const left = read(at(2), b, chunks);
      const right = read(b, at(30), chunks);
      expect([...left.h, ...right.h]).toEqual([...whole.h]);
      expect(right.plan.t0).toBeCloseTo(at(2) + left.plan.n * DT, 9);
    }
  });

  it('given a window before or between all chunks, then it is all gap on the nearest chunk\'s grid', () => {
    const { plan, h, gaps } = read(at(-10), at(-2), [chunk(0)]);
    expect(plan).toMatchObject({ t0: at(-10), n: 8, placements: [] });
    expect(h.every(Number.isNaN)).toBe(true);
    expect(gaps).toEqual([[0, 8]]);
  });

  it('given t1 <= t0 or a window narrower than half a sample, then it holds no sample', () => {
    expect(read(at(3), at(3), [chunk(0)]).plan.n).toBe(0);
    expect(read(at(3), at(3) + 0.4 * DT, [chunk(0)]).plan.n).toBe(0);
  });

  it('given two chunks covering the same samples, then the one stored later wins', () => {
    const again = { ...chunk(0, 9), k: 100 }; // same times, other values, stored after chunk 0
    const { h } = read(at(0), at(8), [chunk(0), again]);
    expect([...h]).toEqual(series(800, 808));
  });

  it('given chunks with different dt in range, then it refuses with DBB_GW_MIXED_SAMPLING', () => {
    expect(() => read(at(0), at(20), [chunk(0), { ...chunk(1), dt: DT * 2 }])).toThrow(expect.objectContaining({ code: 'DBB_GW_MIXED_SAMPLING' }));
  });

  it('given a chunk off the grid by more than a tenth of a sample, then it refuses with DBB_GW_MIXED_SAMPLING', () => {
    expect(() => read(at(0), at(20), [chunk(0), chunk(1, 1, DT, 0.3 * DT)])).toThrow(expect.objectContaining({ code: 'DBB_GW_MIXED_SAMPLING' }));
    // a rounding error is not another grid
    expect(read(at(0), at(16), [chunk(0), chunk(1, 1, DT, 1e-7)]).h).toEqual(Float64Array.from(series(0, 16)));
  });

  it('given mixed dt outside the window, then it reads the window', () => {
    const far = { ...chunk(5), dt: DT * 2 };
    expect([...read(at(0), at(8), [chunk(0), far]).h]).toEqual(series(0, 8));
    // a chunk of another dt starting right at t1 holds no sample of [t0, t1)
    expect([...read(at(0), at(8), [chunk(0), { ...chunk(1), dt: DT * 2 }]).h]).toEqual(series(0, 8));
  });

  it('given more samples than the limit, then it refuses with DBB_GW_RANGE_TOO_LARGE', () => {
    expect(() => read(at(0), at(11), [chunk(0)], 10)).toThrow(expect.objectContaining({ code: 'DBB_GW_RANGE_TOO_LARGE' }));
    expect(read(at(0), at(10), [chunk(0)], 10).plan.n).toBe(10);
  });
});

it('gapsOf lists NaN runs as half-open ranges', () => {
  expect(gapsOf(Float64Array.from([NaN, 1, NaN, NaN, 2, NaN]))).toEqual([[0, 1], [2, 4], [5, 6]]);
  expect(gapsOf(new Float64Array(0))).toEqual([]);
});

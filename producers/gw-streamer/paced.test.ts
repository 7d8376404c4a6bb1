import { describe, expect, it } from 'vitest';
import { finiteRuns, replayPaced, seriesChunks, type Clock, type PacedChunk } from './paced.ts';

/** A virtual clock: sleep advances time at once, and so does a send that "takes" some ms. */
function fakeClock() {
  let t = 1000;
  const clock: Clock = { now: () => t, sleep: async (ms) => { t += ms; } };
  return { clock, advance: (ms: number) => { t += ms; } };
}

const DT = 1 / 16;
const series = { t0: 100, dt: DT, h: Float64Array.from({ length: 40 }, (_, i) => i) };

describe('replayPaced', () => {
  it('given speed 2, when chunks are answered at once, then each goes out when the replay clock reaches its last sample', async () => {
    const { clock } = fakeClock();
    const sent: PacedChunk[] = [];
    const s = await replayPaced(seriesChunks(series, 0.5), { speed: 2, clock, send: async (c) => { sent.push(c); return { resp: 'CREATED', body: {} }; } });
    // 0.5 s chunks of 8 samples, the last one 0 samples short: 5 chunks
    expect(sent.map((c) => [c.t0, c.h.length])).toEqual([[100, 8], [100.5, 8], [101, 8], [101.5, 8], [102, 8]]);
    expect(s.records.map((r) => r.dueMs)).toEqual([250, 500, 750, 1000, 1250]);
    expect(s.records.map((r) => r.sentMs)).toEqual([250, 500, 750, 1000, 1250]);
    expect(s).toMatchObject({ chunks: 5, created: 5, frozen: 0, samples: 40, maxLateMs: 0 });
  });

  it('given a send slower than the pace, then the next chunk goes at once and the schedule does not drift', async () => {
    const { clock, advance } = fakeClock();
    let k = 0;
    const s = await replayPaced(seriesChunks(series, 0.5), {
      speed: 1, clock,
      send: async () => { if (k++ === 1) advance(1200); return { resp: k > 4 ? 'FROZEN' : 'CREATED', body: {} }; },
    });
    expect(s.records.map((r) => r.dueMs)).toEqual([500, 1000, 1500, 2000, 2500]);
    // chunk 1 answered at 2200: chunk 2 (due 1500) is late by 700, chunk 3 (due 2000) by 200, chunk 4 on time
    expect(s.records.map((r) => r.sentMs)).toEqual([500, 1000, 2200, 2200, 2500]);
    expect(s.maxLateMs).toBe(700);
    expect(s).toMatchObject({ created: 4, frozen: 1 });
  });

  it('refuses a speed that is not a finite number > 0', async () => {
    await expect(replayPaced([], { speed: 0, send: async () => ({ resp: 'CREATED', body: {} }) })).rejects.toThrow(/speed/);
  });
});

it('finiteRuns splits a window read back with gaps into the runs a live source sent', () => {
  const h = Float64Array.from([NaN, 1, 2, NaN, NaN, 5, 6, 7]);
  expect([...finiteRuns(h, 10, 0.5)].map((c) => [c.t0, [...c.h]])).toEqual([[10.5, [1, 2]], [12.5, [5, 6, 7]]]);
});

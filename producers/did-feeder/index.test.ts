import { describe, expect, it } from 'vitest';
import type { Appender } from '../../platform/types.ts';
import { appendFeedEvents, loadDidDump } from './index.ts';
import type { FeedEvent } from './parse.ts';

const ev = (i: number): FeedEvent => ({ name: 'DidDeleted', key: `s:n${i}`, body: { scope: 's', name: `n${i}` } });

function fakeAppender(fail?: number) {
  let inFlight = 0;
  const seen = { max: 0, keys: [] as string[] };
  const appender: Appender = {
    async append(_name, key) {
      inFlight++;
      seen.max = Math.max(seen.max, inFlight);
      await new Promise((r) => setTimeout(r, 1));
      inFlight--;
      if (fail !== undefined && key === `s:n${fail}`) throw new Error('broker down');
      seen.keys.push(key);
      return {} as never;
    },
  };
  return { appender, seen };
}

describe('appendFeedEvents', () => {
  it('keeps at most `window` appends in flight and sends every event', async () => {
    const { appender, seen } = fakeAppender();
    const n = await appendFeedEvents(appender, Array.from({ length: 200 }, (_, i) => ev(i)), 16);
    expect(n).toBe(200);
    expect(seen.keys).toHaveLength(200);
    expect(seen.max).toBeLessThanOrEqual(16);
  });

  it('fails the load when an append fails', async () => {
    const { appender } = fakeAppender(50);
    await expect(appendFeedEvents(appender, Array.from({ length: 200 }, (_, i) => ev(i)), 8)).rejects.toThrow('broker down');
  });
});

describe('loadDidDump', () => {
  it('counts lines and events and reports bad lines by number', async () => {
    const { appender, seen } = fakeAppender();
    async function* lines() {
      yield '{"scope":"s","name":"a","metadata":{},"replicas":[{"rse":"R","url":"u","site":"X","lat":1,"lon":2}]}';
      yield 'nope';
      yield '{"op":"delete_did","scope":"s","name":"a"}';
    }
    const res = await loadDidDump(appender, '(test)', { source: lines() });
    expect(res).toEqual({ lines: 3, events: 3, badLines: [{ line: 2, error: expect.stringContaining('not JSON') }] });
    expect(seen.keys).toEqual(['s:a', 's:a', 's:a']);
  });
});

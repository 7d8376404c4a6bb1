// DID feeder (`dbb ivoa load FILE`): streams a JSON-lines dump of DIDs and replicas into
// dbb.ivoa.dids. Appends are issued with a bounded window so the batching producer sends big batches;
// bad lines are counted and reported (with line numbers), never half-sent. Per-DID order holds because
// the appender encodes and queues synchronously in call order and the producer sends one batch at a time.
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Appender } from '../../platform/types.ts';
import { parseDumpLine, DumpLineError, type FeedEvent } from './parse.ts';

export interface LoadResult { lines: number; events: number; badLines: { line: number; error: string }[] }
export interface LoadOptions { /** appends in flight at once */ window?: number; onProgress?: (events: number) => void; source?: AsyncIterable<string> }

export async function appendFeedEvents(appender: Appender, events: Iterable<FeedEvent> | AsyncIterable<FeedEvent>, window = 5000, onProgress?: (n: number) => void): Promise<number> {
  const inFlight = new Set<Promise<unknown>>();
  let n = 0;
  let failure: unknown = null;
  for await (const e of events) {
    if (failure) break;
    const p: Promise<unknown> = appender.append(e.name, e.key, e.body as never).then(
      () => { inFlight.delete(p); },
      (err) => { failure ??= err; inFlight.delete(p); },
    );
    inFlight.add(p);
    n++;
    if (onProgress && n % 10_000 === 0) onProgress(n);
    if (inFlight.size >= window) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
  if (failure) throw failure;
  return n;
}

export async function loadDidDump(appender: Appender, file: string, opts: LoadOptions = {}): Promise<LoadResult> {
  const lines = opts.source ?? createInterface({ input: createReadStream(file, 'utf8'), crlfDelay: Infinity });
  const result: LoadResult = { lines: 0, events: 0, badLines: [] };
  async function* events() {
    for await (const line of lines) {
      result.lines++;
      try {
        yield* parseDumpLine(line);
      } catch (err) {
        if (!(err instanceof DumpLineError)) throw err;
        if (result.badLines.length < 100) result.badLines.push({ line: result.lines, error: err.message });
      }
    }
  }
  result.events = await appendFeedEvents(appender, events(), opts.window, opts.onProgress);
  return result;
}

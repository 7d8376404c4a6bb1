// POST /staging accepts a job id exactly once, decided on the write side (issue 14): the id's reservation
// (processor_tape.job_ids) commits with the TapeJobRequested outbox row, so a duplicate is refused with 403
// even when nothing has consumed the first request yet. No processor runs here: the projection lags or
// never sees the job, which is exactly when a projection check would have let the duplicate through.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from './support/stack.ts';
import { files, startTapeHarness, type TapeHarness } from './tape/harness.ts';
import { TOPIC } from '../schemas/generated/index.ts';
import type { DecodedEvent } from '../platform/types.ts';

let h: TapeHarness;
/** every TapeJobRequested that reached the log, by job id */
const requested = new Map<number, DecodedEvent<'TapeJobRequested'>[]>();
let unsubscribe = () => {};

beforeAll(async () => {
  h = await startTapeHarness({ processor: false, ticker: false });
  unsubscribe = h.stack.replies.subscribe([TOPIC.TAPE_JOBS], (e) => {
    if (e.name !== 'TapeJobRequested') return;
    const ev = e as DecodedEvent<'TapeJobRequested'>;
    const id = Number(ev.value.jobId);
    requested.set(id, [...(requested.get(id) ?? []), ev]);
  });
}, 120_000);
afterAll(async () => { unsubscribe(); await h?.stop(); });

const post = (payload: object) => h.stack.app.inject({ method: 'POST', url: '/staging', headers: h.stack.auth('producer'), payload: payload as any });

describe('POST /staging job ids', () => {
  it('1,000 sequential duplicate pairs: every first is accepted, every second refused with 403, one request each in the log', async () => {
    const N = 1000;
    const base = 100_000;
    const codes = { first: new Map<number, number>(), second: new Map<number, number>() };
    for (let i = 0; i < N; i++) {
      const id = base + i;
      const a = await post({ job_id: id, files: files(`a${i}`, 1), notify_url: `${h.receiver.url}/first/${id}` });
      const b = await post({ job_id: id, files: files(`b${i}`, 2), notify_url: `${h.receiver.url}/second/${id}` });
      codes.first.set(a.statusCode, (codes.first.get(a.statusCode) ?? 0) + 1);
      codes.second.set(b.statusCode, (codes.second.get(b.statusCode) ?? 0) + 1);
      if (b.statusCode === 403) expect(b.json().code).toBe('DBB_TAPE_JOB_EXISTS');
    }
    expect(Object.fromEntries(codes.first)).toEqual({ 202: N });
    expect(Object.fromEntries(codes.second)).toEqual({ 403: N }); // 0 double accepts

    // exactly one request per id reached the log, and it is the first one's
    await eventually(() => expect([...requested.keys()].filter((id) => id >= base && id < base + N)).toHaveLength(N), { timeoutMs: 60_000 });
    for (let i = 0; i < N; i++) {
      const evs = requested.get(base + i)!;
      expect(evs).toHaveLength(1);
      expect(evs[0].value).toMatchObject({ files: files(`a${i}`, 1), notifyUrl: `${h.receiver.url}/first/${base + i}` });
    }
    const { rows: [r] } = await h.stack.db.query('SELECT count(*)::int AS n FROM processor_tape.job_ids WHERE job_id >= $1 AND job_id < $2', [base, base + N]);
    expect(r.n).toBe(N);
    // the projection shows the first request of each (its own fold never decided anything)
    await eventually(async () => {
      const { rows } = await h.stack.db.query(`SELECT count(*)::int AS n FROM projection_tape.jobs WHERE job_id >= $1 AND job_id < $2 AND notify_url LIKE '%/first/%'`, [base, base + N]);
      expect(rows[0].n).toBe(N);
    }, { timeoutMs: 60_000 });
  }, 600_000);

  it('8 concurrent posts with one job id: one 202, seven 403, and only the accepted request is in the log', async () => {
    const id = 200_000;
    const bodies = Array.from({ length: 8 }, (_, i) => ({ job_id: id, files: files(`c${i}`, i + 1), notify_url: `${h.receiver.url}/c${i}` }));
    const res = await Promise.all(bodies.map(post));
    const codes = res.map((r) => r.statusCode).sort();
    expect(codes).toEqual([202, 403, 403, 403, 403, 403, 403, 403]);
    const winner = bodies[res.findIndex((r) => r.statusCode === 202)];
    await eventually(() => expect(requested.get(id)).toHaveLength(1));
    // give a stray duplicate time to show up before asserting there is none
    await new Promise((r) => setTimeout(r, 500));
    expect(requested.get(id)!.map((e) => ({ files: e.value.files, notifyUrl: e.value.notifyUrl }))).toEqual([{ files: winner.files, notifyUrl: winner.notify_url }]);
  });
});

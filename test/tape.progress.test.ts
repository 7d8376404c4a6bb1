// PROGRESS callbacks end to end: a job's percentages (its own, or TAPE_PROGRESS_PERCENT) each give one
// POST with status PROGRESS and its own Idempotency-Key while the job stages, then the seed's final
// callback once; a job asking for none gets only the final one. The SSRF guard applies as to the final one.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { eventually } from './support/stack.ts';
import { files, startTapeHarness, type TapeHarness } from './tape/harness.ts';

let h: TapeHarness;
beforeAll(async () => {
  h = await startTapeHarness({ library: { holdFile: (p) => p.includes('/progheld/') }, env: { TAPE_PROGRESS_PERCENT: '50' } });
});
afterAll(async () => { await h?.stop(); });

const post = (payload: object) => h.stack.app.inject({ method: 'POST', url: '/staging', headers: h.stack.auth('producer'), payload: payload as any });
const to = (jobId: number) => h.receiver.received.filter((r) => r.body?.job_id === jobId);

it('POSTs one PROGRESS callback per percentage passed, each with its own key, then the final callback once', async () => {
  // 3 of 4 files come at once (75 %), the last is held until released
  const list = [...files('prog', 3), ...files('progheld', 1)];
  expect((await post({ job_id: 1001, files: list, notify_url: h.receiver.url, progress: [25, 50, 90] })).statusCode).toBe(202);
  await eventually(() => expect(to(1001).length).toBe(2), { timeoutMs: 60_000 });
  // the three free files may come in one notification batch or several: the counts are those at the crossing
  const progress = to(1001).map((r) => r.body).sort((x, y) => x.percent - y.percent);
  expect(progress.map((b) => b.percent)).toEqual([25, 50]);
  for (const b of progress) {
    expect(b).toMatchObject({ job_id: 1001, status: 'PROGRESS', total_files: 4, error_files: 0 });
    expect(b.ready_files * 25).toBeGreaterThanOrEqual(b.percent);
  }
  h.library.releaseHeld();
  await eventually(() => expect(to(1001).length).toBe(3), { timeoutMs: 60_000 });
  const [, , final] = to(1001);
  expect(final.body).toEqual({ job_id: 1001, return_code: 0, total_files: 4, ready_files: 4, error_files: 0, comment: 'all 4 files staged' });
  const keys = to(1001).map((r) => r.headers['idempotency-key']);
  expect(new Set(keys).size).toBe(3);
  expect(to(1001).every((r) => r.status === 200)).toBe(true);
});

it('uses TAPE_PROGRESS_PERCENT when the request names none, and sends none for progress: []', async () => {
  await post({ job_id: 1002, files: [...files('prog2', 1), ...files('progheld2', 1).map((f) => f.replace('progheld2', 'progheld/x'))], notify_url: h.receiver.url });
  await post({ job_id: 1003, files: [...files('prog3', 1), ...files('progheld3', 1).map((f) => f.replace('progheld3', 'progheld/y'))], notify_url: h.receiver.url, progress: [] });
  await eventually(() => expect(to(1002).map((r) => r.body.percent)).toEqual([50]), { timeoutMs: 60_000 });
  await eventually(async () => {
    const { rows } = await h.stack.db.query('SELECT ready FROM processor_tape.jobs WHERE job_id = 1003');
    expect(rows[0]?.ready).toBe(1);
  }, { timeoutMs: 60_000 });
  h.library.releaseHeld();
  await eventually(() => expect(to(1002).length + to(1003).length).toBe(3), { timeoutMs: 60_000 });
  expect(to(1003).map((r) => r.body.return_code)).toEqual([0]);
  expect(to(1002).map((r) => r.body.status ?? r.body.return_code)).toEqual(['PROGRESS', 0]);
});

it('refuses progress percentages outside 1-99 with 400 problem+json', async () => {
  const res = await post({ job_id: 1004, files: files('prog4', 1), notify_url: h.receiver.url, progress: [100] });
  expect(res.statusCode).toBe(400);
  expect(res.headers['content-type']).toContain('application/problem+json');
});

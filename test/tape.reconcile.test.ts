// Stuck jobs are reconciled: the library loses the notifications of some files (it staged them, or
// failed to read them from tape, and never said so). After TAPE_QUIET_PERIOD_S without news the
// processor asks the library (Scout file status) and records what it finds (TapeFilesReconciled), so
// the job completes long before its 24-hour timeout, with exactly one callback, a read error with its reason.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { eventually } from './support/stack.ts';
import { files, startTapeHarness, type TapeHarness } from './tape/harness.ts';

let h: TapeHarness;

beforeAll(async () => {
  h = await startTapeHarness({
    library: { loseNotification: (p) => p.includes('/lost'), failFile: (p) => p.includes('/lostbad/') },
    env: { TAPE_QUIET_PERIOD_S: '2' }, // the job timeout stays at its default, 24 h
  });
});
afterAll(async () => { await h?.stop(); });

const get = (url: string) => h.stack.app.inject({ method: 'GET', url, headers: h.stack.auth('reader') });
const callbacksOf = (jobId: number) => h.receiver.received.filter((r) => r.body?.job_id === jobId);

it('completes a job whose notifications were lost by asking the library, with one callback and the read error as reason', async () => {
  const heard = files('heard', 3);
  const lost = files('lost', 3);
  const [bad] = files('lostbad', 1);
  const res = await h.stack.app.inject({ method: 'POST', url: '/staging', headers: h.stack.auth('producer'), payload: { job_id: 701, files: [...heard, ...lost, bad], notify_url: h.receiver.url } });
  expect(res.statusCode).toBe(202);

  const detail = await eventually(async () => {
    const d = (await get('/api/v1/tape/jobs/701')).json();
    expect(d).toMatchObject({ completed: true, callback: { status: 'DELIVERED' } });
    return d;
  }, { timeoutMs: 90_000 });
  expect(h.library.stats.lost).toBe(4); // the library really dropped them
  expect(detail).toMatchObject({ status: 'COMPLETED', returnCode: 0, totalFiles: 7, readyFiles: 6, errorFiles: 1 });
  expect(callbacksOf(701)).toHaveLength(1);
  expect(callbacksOf(701)[0].body).toEqual({
    job_id: 701, return_code: 0, total_files: 7, ready_files: 6, error_files: 1, comment: `6 files staged, 1 failed (first: ${bad}: tape read error)`,
  });
  const st = (await get('/staging?job_id=701&include_files=true')).json();
  for (const f of [...heard, ...lost]) expect(st.files[f].slice(0, 2)).toEqual([true, false]);
  expect(st.files[bad].slice(0, 2)).toEqual([false, true]);
  const { rows } = await h.stack.db.query(`SELECT error_text FROM projection_tape.files WHERE job_id = 701 AND error`);
  expect(rows).toEqual([{ error_text: 'tape read error' }]);
});

it('asks a silent library again every quiet period (batchstage resubmitted) until the files come', async () => {
  // held files stay on tape: the library has nothing to say, so every quiet period it is asked again
  h.library.opts.holdFile = (p) => p.includes('/held/');
  try {
    const held = files('held', 2);
    await h.stack.app.inject({ method: 'POST', url: '/staging', headers: h.stack.auth('producer'), payload: { job_id: 702, files: held, notify_url: h.receiver.url } });
    const calls = () => h.stack.db.query(`SELECT count(*)::int AS n FROM processor_tape.jobs WHERE job_id = 702 AND status = 'STAGING' AND submitted`);
    await eventually(async () => expect((await calls()).rows[0].n).toBe(1), { timeoutMs: 60_000 });
    const before = h.library.stats.batchstageCalls;
    // each reconcile of a still-pending file resubmits batchstage (idempotent on the job key)
    await eventually(() => expect(h.library.stats.batchstageCalls).toBeGreaterThanOrEqual(before + 2), { timeoutMs: 60_000 });
    expect(callbacksOf(702)).toEqual([]);
    expect((await get('/api/v1/tape/jobs/702')).json()).toMatchObject({ completed: false, readyFiles: 0 });
    h.library.releaseHeld();
    await eventually(() => expect(callbacksOf(702)).toHaveLength(1), { timeoutMs: 60_000 });
    expect(callbacksOf(702)[0].body).toMatchObject({ return_code: 0, ready_files: 2 });
  } finally {
    h.library.opts.holdFile = undefined;
  }
});

// Crash recovery: the tape processor runs in a child process and is SIGKILLed mid-job, while the
// library keeps publishing notifications (after a restart the job completes with exactly one
// successful callback, every file counted once), mid-batchstage (the UNKNOWN call is resubmitted on
// the same job key, which the library treats as the same request), and mid-callback (the UNKNOWN
// delivery is resent with the same Idempotency-Key and reported).
import { afterAll, beforeAll, expect, it } from 'vitest';
import { eventually } from './support/stack.ts';
import { spawnConsumers, type ConsumerProcess } from './support/consumer-process.ts';
import { files, startTapeHarness, type TapeHarness } from './tape/harness.ts';

let h: TapeHarness;
let child: ConsumerProcess | null = null;
const N = 60;

beforeAll(async () => {
  // files named *hold* stay on tape until released, so the job is certainly in flight when it is killed
  h = await startTapeHarness({
    processor: false,
    library: { stageDelayMs: 50, stageIntervalMs: 20, holdFile: (p) => p.includes('/hold/') },
    env: { TAPE_SCOUT_TIMEOUT_MS: '120000' }, // a swallowed batchstage keeps the processor waiting until it is killed
  });
});
afterAll(async () => {
  child?.child.kill('SIGKILL');
  await h?.stop();
});

/** Starts the processor child; a start that fails on the shared machine (e.g. Postgres out of
 *  connections) is retried, as a supervisor would. */
const spawn = async (): Promise<ConsumerProcess> => {
  for (let attempt = 1; ; attempt++) {
    const c = spawnConsumers(h.stack.env, 'processors/tape/index.ts', 'createTapeProcessor');
    try {
      await c.ready;
      return c;
    } catch (err) {
      if (attempt >= 4) throw err;
      await new Promise((r) => setTimeout(r, 2000 * attempt));
    }
  }
};

it('completes a job after the processor is killed mid-job, with exactly one successful callback', async () => {
  child = await spawn();
  const list = [...files('crash', N - 10), ...files('hold', 10)];
  const res = await h.stack.app.inject({ method: 'POST', url: '/staging', headers: h.stack.auth('producer'), payload: { job_id: 301, files: list, notify_url: h.receiver.url } });
  expect(res.statusCode).toBe(202);

  await eventually(async () => {
    const { rows } = await h.stack.db.query('SELECT ready FROM processor_tape.jobs WHERE job_id = 301');
    expect(rows[0]?.ready).toBeGreaterThanOrEqual(5);
  }, { timeoutMs: 60_000, intervalMs: 20 });
  child.child.kill('SIGKILL');
  await child.exited;
  const { rows: [atKill] } = await h.stack.db.query('SELECT ready, status FROM processor_tape.jobs WHERE job_id = 301');
  expect(atKill.status).toBe('STAGING');
  expect(h.receiver.received).toEqual([]);

  child = await spawn();
  h.library.releaseHeld();
  await eventually(async () => {
    const st = (await h.stack.app.inject({ method: 'GET', url: '/api/v1/tape/jobs/301', headers: h.stack.auth('reader') })).json();
    expect(st).toMatchObject({ completed: true, readyFiles: N, errorFiles: 0, returnCode: 0, callback: { status: 'DELIVERED' } });
  }, { timeoutMs: 90_000 });
  expect(h.receiver.received).toHaveLength(1);
  expect(h.receiver.delivered()[0].body).toEqual({ job_id: 301, return_code: 0, total_files: N, ready_files: N, error_files: 0, comment: `all ${N} files staged` });
  const { rows: [state] } = await h.stack.db.query('SELECT ready, error, file_state FROM processor_tape.jobs WHERE job_id = 301');
  expect(state).toMatchObject({ ready: N, error: 0 });
  expect([...state.file_state]).toEqual(Array(N).fill(1)); // every file READY once
  expect(h.library.stats.batchstageCalls).toBeGreaterThanOrEqual(1);
});

it('resubmits a batchstage whose answer was lost in a crash, without staging anything twice', async () => {
  h.nodes[0].swallowBatchstage(1);
  const calls = h.library.stats.batchstageCalls;
  const staged = h.library.stats.staged;
  const list = [...files('lostanswer', 4), ...files('hold', 1).map((f) => f.replace('hold_', 'hold_b'))];
  await h.stack.app.inject({ method: 'POST', url: '/staging', headers: h.stack.auth('producer'), payload: { job_id: 303, files: list, notify_url: h.receiver.url } });
  await eventually(() => expect(h.library.stats.batchstageCalls).toBe(calls + 1), { timeoutMs: 60_000, intervalMs: 20 });
  child!.child.kill('SIGKILL');
  await child!.exited;
  const { rows: [effect] } = await h.stack.db.query(`SELECT state FROM processor_tape.effects WHERE effect_id = 'tape.batchstage:303'`);
  expect(effect.state).toBe('STARTED'); // the outcome is unknown

  child = await spawn();
  await eventually(() => expect(h.library.stats.batchstageCalls).toBe(calls + 2), { timeoutMs: 90_000 });
  h.library.releaseHeld();
  await eventually(() => expect(h.receiver.delivered().filter((r) => r.body?.job_id === 303)).toHaveLength(1), { timeoutMs: 60_000 });
  expect(h.receiver.delivered().find((r) => r.body?.job_id === 303)!.body).toMatchObject({ return_code: 0, ready_files: 5, error_files: 0 });
  // the callback goes out in the batch that completes the job (Decider.react), before that batch commits
  await eventually(async () => {
    const { rows: [job] } = await h.stack.db.query('SELECT submitted, ready FROM processor_tape.jobs WHERE job_id = 303');
    expect(job).toEqual({ submitted: true, ready: 5 });
  }, { timeoutMs: 30_000 });
  expect(h.library.stats.staged).toBe(staged + 5); // the second batchstage on key 303 staged nothing again
});

it('resends a callback whose delivery was cut by a crash, with the same Idempotency-Key, and reports it', async () => {
  h.receiver.hang = 1;
  const res = await h.stack.app.inject({ method: 'POST', url: '/staging', headers: h.stack.auth('producer'), payload: { job_id: 302, files: files('cut', 2), notify_url: h.receiver.url } });
  expect(res.statusCode).toBe(202);
  const tries = () => h.receiver.received.filter((r) => r.body?.job_id === 302);
  await eventually(() => expect(tries()).toHaveLength(1), { timeoutMs: 60_000 });
  child!.child.kill('SIGKILL');
  await child!.exited;

  child = await spawn();
  await eventually(async () => {
    const st = (await h.stack.app.inject({ method: 'GET', url: '/api/v1/tape/jobs/302', headers: h.stack.auth('reader') })).json();
    expect(st.callback.status).toBe('DELIVERED');
  }, { timeoutMs: 90_000 });
  const all = tries();
  expect(all.map((r) => r.status)).toEqual([0, 200]);
  expect(all[1].headers['idempotency-key']).toBe(all[0].headers['idempotency-key']);
  expect(all[1].body).toEqual(all[0].body);
});

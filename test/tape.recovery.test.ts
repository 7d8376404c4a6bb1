// Timeouts and rebuilds: a job whose files never arrive times out with return code 10 (the test sends
// the adapter's tick itself, once the deadline has passed), and replaying the tape projection from
// offset 0 gives the live tables.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { eventually } from './support/stack.ts';
import { files, startTapeHarness, type TapeHarness } from './tape/harness.ts';
import { createTapeProjection } from '../projections/tape/index.ts';
import { replayProjection } from '../platform/replay.ts';
import { ns } from '../platform/config.ts';
import { TOPIC } from '../schemas/generated/index.ts';

let h: TapeHarness;

beforeAll(async () => {
  h = await startTapeHarness({ library: { stageDelayMs: 20, neverStage: (p) => p.includes('/lost/') }, env: { TAPE_JOB_TIMEOUT_S: '2' }, ticker: false });
});
afterAll(async () => { await h?.stop(); });

const post = (payload: object) => h.stack.app.inject({ method: 'POST', url: '/staging', headers: h.stack.auth('producer'), payload: payload as any });
const get = (url: string) => h.stack.app.inject({ method: 'GET', url, headers: h.stack.auth('reader') });
const callbacksOf = (jobId: number) => h.receiver.received.filter((r) => r.body?.job_id === jobId);

it('times out a job whose files never arrive with return code 10', async () => {
  await post({ job_id: 401, files: [...files('ontime', 1), ...files('lost', 1)], notify_url: h.receiver.url });
  const { rows: [job] } = await eventually(async () => {
    const r = await h.stack.db.query('SELECT ready, deadline FROM processor_tape.jobs WHERE job_id = 401');
    expect(r.rows[0]?.ready).toBe(1);
    return r;
  }, { timeoutMs: 60_000 });
  await eventually(() => expect(Date.now()).toBeGreaterThan(Number(job.deadline)), { timeoutMs: 10_000 });
  expect(callbacksOf(401)).toEqual([]); // no tick yet, so no timeout
  await h.adapter.tick();
  const [cb] = await eventually(() => { const c = callbacksOf(401); expect(c).toHaveLength(1); return c; }, { timeoutMs: 60_000 });
  expect(cb.body).toEqual({ job_id: 401, return_code: 10, total_files: 2, ready_files: 1, error_files: 0, comment: 'timed out: 1 of 2 files not staged' });
  await eventually(async () => expect((await get('/staging?job_id=401')).json()).toMatchObject({ completed: true, ready_files: 1 }));
});

it('rebuilds the projection from offset 0 into the same tables as live', async () => {
  await post({ job_id: 402, files: files('replay', 3), notify_url: h.receiver.url });
  await post({ job_id: 403, files: files('lost', 1), notify_url: h.receiver.url });
  await eventually(() => expect(callbacksOf(402)).toHaveLength(1));
  await h.stack.app.inject({ method: 'DELETE', url: '/staging?job_id=403', headers: h.stack.auth('producer') });
  await h.adapter.stop(); // no more ticks: the log stops growing
  await eventually(async () => expect((await get('/api/v1/tape/jobs/402')).json().callback.status).toBe('DELIVERED'));

  const topic = ns(h.stack.config, TOPIC.TAPE_JOBS);
  const admin = h.stack.platform.kafka.admin();
  await admin.connect();
  const ends = await admin.fetchTopicOffsets(topic);
  await admin.disconnect();
  const caughtUp = async () => {
    const { rows } = await h.stack.db.query(`SELECT partition, next_offset FROM projection_tape.consumer_offsets WHERE topic = $1`, [topic]);
    for (const p of ends) expect(Number(rows.find((r) => r.partition === p.partition)?.next_offset ?? 0)).toBe(Number(p.high));
  };
  await eventually(caughtUp);

  const snapshot = async () => ({
    jobs: (await h.stack.db.query('SELECT * FROM projection_tape.jobs ORDER BY job_id')).rows,
    files: (await h.stack.db.query('SELECT * FROM projection_tape.files ORDER BY job_id, name')).rows,
    adapter: (await h.stack.db.query('SELECT * FROM projection_tape.adapter')).rows,
  });
  const live = await snapshot();
  // the cancelled job 403 is removed, live and after the replay
  expect(live.jobs.map((j) => [j.job_id, j.status])).toEqual([[401, 'COMPLETED'], [402, 'COMPLETED']]);
  const result = await replayProjection(h.stack.platform, createTapeProjection(h.stack.platform.domainDeps));
  expect(result.events).toBeGreaterThan(0);
  expect(await snapshot()).toEqual(live);
});

// DELETE /staging?job_id= removes a job in any state, decided by the processor (issue 14): queued,
// staging, completed, failed and timed-out jobs answer 200 and leave GET /staging and /get_joblist; a
// second DELETE (and an id never accepted) answers 404; the Scout cancelbatchstage is called only while
// files are still pending at the library. Also: 8 concurrent POSTs with one id end to end.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from './support/stack.ts';
import { files, startTapeHarness, type TapeHarness } from './tape/harness.ts';
import { createTapeProcessor } from '../processors/tape/index.ts';

let h: TapeHarness;

beforeAll(async () => {
  // the processor starts in the first test, so that a job can be queued (accepted, not yet handled)
  h = await startTapeHarness({
    processor: false, ticker: false, observations: { 1234: files('obs', 2) },
    library: { stageDelayMs: 20, holdFile: (p) => p.includes('/held/'), neverStage: (p) => p.includes('/lost/') },
    env: { TAPE_JOB_TIMEOUT_S: '2' },
  });
}, 120_000);
afterAll(async () => { await h?.stop(); });

const post = (payload: object) => h.stack.app.inject({ method: 'POST', url: '/staging', headers: h.stack.auth('producer'), payload: payload as any });
const get = (url: string) => h.stack.app.inject({ method: 'GET', url, headers: h.stack.auth('reader') });
const del = (jobId: number) => h.stack.app.inject({ method: 'DELETE', url: `/staging?job_id=${jobId}`, headers: h.stack.auth('producer') });
const callbacksOf = (jobId: number) => h.receiver.received.filter((r) => r.body?.job_id === jobId);
const processorJob = async (jobId: number) => (await h.stack.db.query('SELECT * FROM processor_tape.jobs WHERE job_id = $1', [jobId])).rows[0];

/** After a 200 DELETE: the job leaves GET and the job list, a second DELETE is 404, and the id stays taken. */
async function expectGone(jobId: number) {
  await eventually(async () => expect((await get(`/staging?job_id=${jobId}`)).statusCode).toBe(404));
  expect((await get(`/api/v1/tape/jobs/${jobId}`)).statusCode).toBe(404);
  expect((await get('/get_joblist')).json().jobs.map((j: { job_id: number }) => j.job_id)).not.toContain(jobId);
  const again = await del(jobId);
  expect(again.statusCode).toBe(404);
  expect(again.json().code).toBe('DBB_TAPE_JOB_NOT_FOUND');
  expect((await post({ job_id: jobId, files: ['/mwa/x.fits'], notify_url: h.receiver.url })).statusCode).toBe(403);
}

async function expectRemoved(jobId: number) {
  const res = await del(jobId);
  expect(res.statusCode, `DELETE ${jobId}`).toBe(200);
  expect(res.json()).toEqual({ job_id: jobId, cancelled: true });
  await expectGone(jobId);
}

describe('DELETE /staging', () => {
  it('removes a queued job (accepted, not yet handled): nothing reaches the library, no callback', async () => {
    expect((await post({ job_id: 301, files: files('queued', 2), notify_url: h.receiver.url })).statusCode).toBe(202);
    await eventually(async () => expect((await get('/staging?job_id=301')).json()).toMatchObject({ job_id: 301, completed: false, total_files: 0 }));
    const pending = del(301); // waits for the processor's outcome
    await h.stack.startConsumers((deps) => [createTapeProcessor(deps)]);
    const res = await pending;
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ job_id: 301, cancelled: true });
    await expectGone(301);
    expect((await processorJob(301)).status).toBe('CANCELLED');
    // the processor reads its own TapeJobCreated back before it would batchstage: give it the time
    await new Promise((r) => setTimeout(r, 1000));
    expect(h.library.stats.batchstageCalls).toBe(0);
    expect(h.library.stats.cancelCalls).toBe(0);
    expect(callbacksOf(301)).toEqual([]);
  }, 120_000);

  it('answers 404 for a job id never accepted', async () => {
    const res = await del(399);
    expect(res.statusCode).toBe(404);
    expect(res.headers['content-type']).toContain('application/problem+json');
  });

  it('removes a staging job and cancels its pending files at the library', async () => {
    await post({ job_id: 302, files: [...files('held', 2), ...files('fine', 1)], notify_url: h.receiver.url });
    await eventually(async () => expect(await processorJob(302)).toMatchObject({ status: 'STAGING', submitted: true, ready: 1 }), { timeoutMs: 60_000 });
    const cancels = h.library.stats.cancelCalls;
    await expectRemoved(302);
    expect(h.library.stats.cancelCalls).toBe(cancels + 1);
    h.library.releaseHeld(); // cancelled at the library: nothing is staged or counted
    expect(callbacksOf(302)).toEqual([]);
  }, 120_000);

  it.each([
    { what: 'a completed job', jobId: 303, body: { files: files('done', 2) }, code: 0 },
    { what: 'a failed job (obs lookup failed)', jobId: 304, body: { obs: { obs_id: 999 } }, code: 100 },
  ])('removes $what without calling the library', async ({ jobId, body, code }) => {
    await post({ job_id: jobId, ...body, notify_url: h.receiver.url });
    await eventually(() => expect(callbacksOf(jobId).map((c) => c.body.return_code)).toEqual([code]), { timeoutMs: 60_000 });
    const cancels = h.library.stats.cancelCalls;
    await expectRemoved(jobId);
    expect(h.library.stats.cancelCalls).toBe(cancels);
  }, 120_000);

  it('removes a timed-out job and cancels the files still pending at the library', async () => {
    await post({ job_id: 305, files: [...files('lost', 1), ...files('ontime', 1)], notify_url: h.receiver.url });
    const job = await eventually(async () => { const j = await processorJob(305); expect(j?.ready).toBe(1); return j; }, { timeoutMs: 60_000 });
    await eventually(() => expect(Date.now()).toBeGreaterThan(Number(job.deadline)), { timeoutMs: 10_000 });
    await h.adapter.tick();
    await eventually(() => expect(callbacksOf(305).map((c) => c.body.return_code)).toEqual([10]), { timeoutMs: 60_000 });
    const cancels = h.library.stats.cancelCalls;
    await expectRemoved(305);
    expect(h.library.stats.cancelCalls).toBe(cancels + 1);
  }, 120_000);
});

describe('POST /staging, 8 concurrent posts with one job id', () => {
  it('gives one 202 and seven 403, and the job staged and reported is the accepted one', async () => {
    const id = 310;
    const bodies = Array.from({ length: 8 }, (_, i) => ({ job_id: id, files: files(`race${i}`, i + 1), notify_url: `${h.receiver.url}/race${i}` }));
    const res = await Promise.all(bodies.map(post));
    expect(res.map((r) => r.statusCode).sort()).toEqual([202, 403, 403, 403, 403, 403, 403, 403]);
    for (const r of res.filter((x) => x.statusCode === 403)) expect(r.json().code).toBe('DBB_TAPE_JOB_EXISTS');
    const winner = bodies[res.findIndex((r) => r.statusCode === 202)];
    const [cb] = await eventually(() => { const c = callbacksOf(id); expect(c).toHaveLength(1); return c; }, { timeoutMs: 60_000 });
    expect(cb.path).toBe(new URL(winner.notify_url).pathname);
    expect(cb.body).toMatchObject({ job_id: id, return_code: 0, total_files: winner.files.length, ready_files: winner.files.length });
    const status = (await get(`/staging?job_id=${id}&include_files=true`)).json();
    expect(Object.keys(status.files).sort()).toEqual([...winner.files].sort());
    expect((await get(`/api/v1/tape/jobs/${id}`)).json().notifyUrl).toBe(winner.notify_url);
  }, 120_000);
});

describe('a TapeJobRequested appended another way (POST /api/v1/events)', () => {
  it('has its id claimed by the processor, so POST /staging then refuses the id', async () => {
    const raw = await h.stack.app.inject({
      method: 'POST', url: '/api/v1/events/TapeJobRequested', headers: h.stack.auth('producer'),
      payload: { key: '320', body: { jobId: 320, files: files('raw', 1), obs: null, notifyUrl: h.receiver.url } },
    });
    expect(raw.statusCode).toBe(202);
    await eventually(async () => expect((await processorJob(320))?.status).toBeDefined(), { timeoutMs: 60_000 });
    const { rows } = await h.stack.db.query('SELECT request_event_id FROM processor_tape.job_ids WHERE job_id = 320');
    expect(rows).toEqual([{ request_event_id: raw.json().eventId }]);
    const res = await post({ job_id: 320, files: files('route', 1), notify_url: h.receiver.url });
    expect(res.statusCode).toBe(403);
  }, 120_000);
});

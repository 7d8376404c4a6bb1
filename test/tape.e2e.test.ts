// End to end through the gateway on the real stack: jobs by file list and by obs reach the callback
// receiver with the seed body and basic auth; the seed's status, list, stats, filestatus and error codes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from './support/stack.ts';
import { CALLBACK_AUTH, files, startTapeHarness, type TapeHarness } from './tape/harness.ts';

let h: TapeHarness;
const basic = `Basic ${Buffer.from(`${CALLBACK_AUTH.user}:${CALLBACK_AUTH.password}`).toString('base64')}`;

beforeAll(async () => {
  h = await startTapeHarness({ observations: { 1234567890: files('1234567890', 3), 555: [] } });
});
afterAll(async () => { await h?.stop(); });

const post = (payload: object) => h.stack.app.inject({ method: 'POST', url: '/staging', headers: h.stack.auth('producer'), payload: payload as any });
const get = (url: string) => h.stack.app.inject({ method: 'GET', url, headers: h.stack.auth('reader') });
const callbackOf = (jobId: number) => h.receiver.delivered().filter((r) => r.body?.job_id === jobId);

describe('tape staging jobs', () => {
  it('stages a job by file list and POSTs the seed body with basic auth to notify_url', async () => {
    const list = files('list', 4);
    const res = await post({ job_id: 101, files: list, notify_url: `${h.receiver.url}/done` });
    expect(res.statusCode).toBe(202);
    expect(res.json()).toEqual({ job_id: 101, status_url: '/staging?job_id=101' });

    const [cb] = await eventually(() => { const c = callbackOf(101); expect(c).toHaveLength(1); return c; });
    expect(cb.path).toBe('/done');
    expect(cb.headers.authorization).toBe(basic);
    expect(cb.headers['idempotency-key']).toMatch(/^[0-9a-f-]{36}$/);
    expect(cb.body).toEqual({ job_id: 101, return_code: 0, total_files: 4, ready_files: 4, error_files: 0, comment: 'all 4 files staged' });

    const status = await eventually(async () => {
      const r = await get('/staging?job_id=101&include_files=true');
      expect(r.json()).toMatchObject({ completed: true });
      return r.json();
    });
    expect(status).toMatchObject({ job_id: 101, completed: true, total_files: 4, ready_files: 4, error_files: 0 });
    expect(Object.keys(status.files).sort()).toEqual(list);
    for (const [ready, error, readytime] of Object.values(status.files) as [boolean, boolean, string][]) {
      expect([ready, error]).toEqual([true, false]);
      expect(new Date(readytime).getTime()).toBeGreaterThan(0);
    }
    expect(h.library.stats.batchstageCalls).toBeGreaterThanOrEqual(1);
    await eventually(async () => expect((await get('/api/v1/tape/jobs/101')).json().callback).toEqual({ status: 'DELIVERED', attempts: 1, error: null }));
  });

  it('stages a job by obs id through the data-files service', async () => {
    expect((await post({ job_id: 102, obs: { obs_id: 1234567890 }, notify_url: h.receiver.url })).statusCode).toBe(202);
    const [cb] = await eventually(() => { const c = callbackOf(102); expect(c).toHaveLength(1); return c; });
    expect(cb.body).toEqual({ job_id: 102, return_code: 0, total_files: 3, ready_files: 3, error_files: 0, comment: 'all 3 files staged' });
    const status = (await get('/staging?job_id=102&include_files=true')).json();
    expect(Object.keys(status.files).sort()).toEqual(files('1234567890', 3));
  });

  it('reports 100 when the obs lookup fails and 101 when the obs has no files', async () => {
    await post({ job_id: 103, obs: { obs_id: 999 }, notify_url: h.receiver.url });
    await post({ job_id: 104, obs: { obs_id: 555 }, notify_url: h.receiver.url });
    await eventually(() => {
      expect(callbackOf(103).map((c) => c.body.return_code)).toEqual([100]);
      expect(callbackOf(104).map((c) => c.body.return_code)).toEqual([101]);
    });
  });

  it('answers 403 for an existing job id and 400 without files or obs, appending nothing', async () => {
    await post({ job_id: 105, files: files('dup', 1), notify_url: h.receiver.url });
    await eventually(async () => expect((await get('/staging?job_id=105')).statusCode).toBe(200));
    const dup = await post({ job_id: 105, files: files('other', 1), notify_url: h.receiver.url });
    expect(dup.statusCode).toBe(403);
    expect(dup.json().code).toBe('DBB_TAPE_JOB_EXISTS');
    const none = await post({ job_id: 106, notify_url: h.receiver.url });
    expect(none.statusCode).toBe(400);
    expect(none.json().code).toBe('DBB_TAPE_NO_FILES');
    expect((await post({ job_id: 106, obs: { mwa: true }, notify_url: h.receiver.url })).json().code).toBe('DBB_TAPE_NO_OBS_ID');
    expect((await get('/staging?job_id=106')).statusCode).toBe(404);
    expect((await h.stack.app.inject({ method: 'POST', url: '/staging', payload: { job_id: 107, files: ['x'], notify_url: h.receiver.url } })).statusCode).toBe(401);
  });

  it('counts failed files as errors and still completes with 0, with the first read error as the reason', async () => {
    h.library.opts.failFile = (p) => p.includes('/bad/');
    try {
      await post({ job_id: 108, files: [...files('bad', 1), ...files('good8', 2)], notify_url: h.receiver.url });
      const [cb] = await eventually(() => { const c = callbackOf(108); expect(c).toHaveLength(1); return c; });
      expect(cb.body).toEqual({ job_id: 108, return_code: 0, total_files: 3, ready_files: 2, error_files: 1, comment: `2 files staged, 1 failed (first: ${files('bad', 1)[0]}: tape read error)` });
      const st = (await get('/staging?job_id=108&include_files=true')).json();
      expect(st.files[files('bad', 1)[0]].slice(0, 2)).toEqual([false, true]);
    } finally {
      h.library.opts.failFile = undefined;
    }
  });

  it('lists jobs, reports stats with the adapter heartbeat and cache state, file status and ping', async () => {
    const list = (await get('/get_joblist')).json();
    expect(list.jobs.map((j: { job_id: number }) => j.job_id)).toEqual(expect.arrayContaining([101, 102]));
    const stats = await eventually(async () => {
      const s = (await get('/get_stats')).json();
      expect(s.kafkad_heartbeat).not.toBeNull();
      expect(s.cache).toMatchObject({ health: 'OK' });
      return s;
    });
    expect(stats.jobs.total).toBeGreaterThanOrEqual(2);
    const online = files('list', 1)[0];
    const fs = await h.stack.app.inject({ method: 'POST', url: '/filestatus', headers: h.stack.auth('reader'), payload: { files: [online, '/mwa/never/staged.fits'] } });
    expect(fs.json()).toEqual({ files: { [online]: true, '/mwa/never/staged.fits': false } });
    expect((await h.stack.app.inject({ method: 'GET', url: '/ping' })).json()).toEqual({ ping: 'pong' });
  });

  it('sends a garbage notification and a file of no job to the notifications .dlq', async () => {
    const p = h.stack.platform;
    const topic = `${p.config.namespace}tape.notifications`;
    const producer = p.kafka.producer();
    await producer.connect();
    await producer.send({ topic, messages: [{ value: 'not json' }, { value: JSON.stringify({ filename: '/mwa/nobody/x.fits' }) }] });
    await producer.disconnect();
    const seen: string[] = [];
    const consumer = p.kafka.consumer({ groupId: `${p.config.namespace}dlq-check` });
    await consumer.connect();
    await consumer.subscribe({ topics: [`${topic}.dlq`], fromBeginning: true });
    await consumer.run({ eachMessage: async ({ message }) => { seen.push(message.headers?.['dbb-error']?.toString() ?? ''); } });
    try {
      await eventually(() => {
        expect(seen.some((e) => e.startsWith('garbage notification'))).toBe(true);
        expect(seen).toContain('unknown file /mwa/nobody/x.fits');
      });
    } finally {
      await consumer.disconnect();
    }
  });
});

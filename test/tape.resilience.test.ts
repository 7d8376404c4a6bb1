// Failure handling through the gateway on the real stack: a down Scout node, a callback receiver that
// fails twice (signed callbacks), a receiver that never answers 2xx (scheduled rounds, then `rerun --callbacks-failed`), and cancel mid-job
// with late notifications.
import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from './support/stack.ts';
import { files, startTapeHarness, type TapeHarness } from './tape/harness.ts';
import { rerunFailedTapeCallbacks } from '../gateway/reruns.ts';

let h: TapeHarness;
const SECRET = `whsec_${Buffer.from('resilience test signing key 0123').toString('base64')}`;

/** Standard Webhooks check of a received callback, from the spec. */
function verified(r: { headers: Record<string, unknown>; body: unknown }): boolean {
  const { 'webhook-id': id, 'webhook-timestamp': ts, 'webhook-signature': sig } = r.headers as Record<string, string>;
  const mac = createHmac('sha256', Buffer.from(SECRET.slice('whsec_'.length), 'base64')).update(`${id}.${ts}.${JSON.stringify(r.body)}`).digest('base64');
  return typeof sig === 'string' && sig.split(' ').includes(`v1,${mac}`);
}

beforeAll(async () => {
  h = await startTapeHarness({
    nodes: 3,
    library: { stageDelayMs: 20, neverStage: (p) => p.includes('/lost/') },
    // 3 in-batch attempts, then 2 scheduled rounds 100 ms and 200 ms later (triggered by the 300 ms tick)
    env: { TAPE_CALLBACK_ATTEMPTS: '3', TAPE_CALLBACK_RETRY_ROUNDS: '2', TAPE_CALLBACK_RETRY_FIRST_MS: '100', TAPE_CALLBACK_SECRET: SECRET },
  });
});
afterAll(async () => { await h?.stop(); });

const post = (payload: object) => h.stack.app.inject({ method: 'POST', url: '/staging', headers: h.stack.auth('producer'), payload: payload as any });
const get = (url: string) => h.stack.app.inject({ method: 'GET', url, headers: h.stack.auth('reader') });
const callbacksOf = (jobId: number) => h.receiver.received.filter((r) => r.body?.job_id === jobId);

describe('tape resilience', () => {
  it('succeeds through the other Scout nodes while one is down and one answers 503', async () => {
    await h.nodes[0].stop();
    h.nodes[1].setFailing(true);
    try {
      await post({ job_id: 201, files: files('ha', 3), notify_url: h.receiver.url });
      await eventually(() => expect(callbacksOf(201).map((r) => r.body.return_code)).toEqual([0]));
    } finally {
      h.nodes[1].setFailing(false);
    }
  });

  it('logs in again when the library forgets its token', async () => {
    const logins = h.library.stats.logins;
    h.nodes[2].expireTokens();
    await post({ job_id: 202, files: files('relogin', 2), notify_url: h.receiver.url });
    await eventually(() => expect(callbacksOf(202).map((r) => r.body.return_code)).toEqual([0]));
    expect(h.library.stats.logins).toBeGreaterThan(logins);
  });

  it('delivers the callback on the third try, with the same Idempotency-Key on every try', async () => {
    h.receiver.failFirst = 2;
    await post({ job_id: 203, files: files('retry', 2), notify_url: h.receiver.url });
    const tries = await eventually(() => { const t = callbacksOf(203); expect(t.map((r) => r.status)).toEqual([500, 500, 200]); return t; });
    expect(new Set(tries.map((r) => r.headers['idempotency-key'])).size).toBe(1);
    // signed per Standard Webhooks: webhook-id is the delivery id on every try
    expect(tries.map((r) => r.headers['webhook-id'])).toEqual(tries.map((r) => r.headers['idempotency-key']));
    expect(tries.every(verified)).toBe(true);
    await eventually(async () => expect((await get('/api/v1/tape/jobs/203')).json().callback).toEqual({ status: 'DELIVERED', attempts: 3, error: null }));
  });

  it('retries a failed delivery in scheduled rounds on the tick, shows it failed after them, and resends it on rerun', async () => {
    h.receiver.failAlways = true;
    try {
      await post({ job_id: 204, files: files('dead', 1), notify_url: h.receiver.url });
      await eventually(async () => expect((await get('/api/v1/tape/jobs/204')).json().callback).toEqual({ status: 'FAILED', attempts: 5, error: 'HTTP 500' }));
      expect((await get('/get_stats')).json().jobs.callbacks_failed).toBeGreaterThanOrEqual(1);
    } finally {
      h.receiver.failAlways = false;
    }
    expect((await h.stack.app.inject({ method: 'POST', url: '/api/v1/tape/callbacks/rerun', headers: h.stack.auth('producer') })).statusCode).toBe(403);
    const rerun = await h.stack.app.inject({ method: 'POST', url: '/api/v1/tape/callbacks/rerun', headers: h.stack.auth('operator') });
    expect(rerun.statusCode).toBe(202);
    expect(rerun.json()).toEqual({ job_ids: [204] });
    await eventually(async () => expect((await get('/api/v1/tape/jobs/204')).json().callback.status).toBe('DELIVERED'));
    expect(await rerunFailedTapeCallbacks({ db: h.stack.db, appender: h.stack.appender })).toEqual([]);
    const tries = callbacksOf(204);
    expect(tries.map((r) => r.status)).toEqual([500, 500, 500, 500, 500, 200]);
    expect(new Set(tries.map((r) => r.headers['idempotency-key'])).size).toBe(1);
    expect(new Set(tries.map((r) => r.headers['webhook-id'])).size).toBe(1);
    expect(tries.every(verified)).toBe(true);
  });

  it('cancels a job in flight: cancel call, job removed, late notifications ignored, no callback', async () => {
    const list = [...files('cancel', 2), ...files('lost', 2)];
    await post({ job_id: 205, files: list, notify_url: h.receiver.url });
    await eventually(async () => expect((await get('/staging?job_id=205')).json().ready_files).toBe(2));
    const cancels = h.library.stats.cancelCalls;
    const res = await h.stack.app.inject({ method: 'DELETE', url: '/staging?job_id=205', headers: h.stack.auth('producer') });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ job_id: 205, cancelled: true });
    expect(h.library.stats.cancelCalls).toBe(cancels + 1);
    await eventually(async () => expect((await get('/staging?job_id=205')).statusCode).toBe(404));

    // a late notification for the cancelled job is recorded and ignored
    const topic = `${h.stack.config.namespace}tape.notifications`;
    const producer = h.stack.platform.kafka.producer();
    await producer.connect();
    await producer.send({ topic, messages: [{ value: JSON.stringify({ filename: list[2] }) }] });
    await producer.disconnect();
    await eventually(() => expect(h.adapter.stats.ignored).toBeGreaterThanOrEqual(1));
    const { rows } = await h.stack.db.query('SELECT status, ready FROM processor_tape.jobs WHERE job_id = 205');
    expect(rows).toEqual([{ status: 'CANCELLED', ready: 2 }]);
    expect(callbacksOf(205)).toEqual([]);
    expect((await post({ job_id: 205, files: ['x'], notify_url: h.receiver.url })).statusCode).toBe(403);
  });
});

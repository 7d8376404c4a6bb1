// The backbone on real Kafka, registry and Postgres: round trip by schema id, dead letters, exactly-once
// downstream of the outbox, replay equals live.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ns } from '../platform/config.ts';
import { TOPIC } from '../schemas/generated/index.ts';
import { replayProjection } from '../platform/replay.ts';
import { createSampleEchoProcessor, createSampleProjection } from './support/sample/index.ts';
import { eventually, startTestStack, type TestStack } from './support/stack.ts';

let stack: TestStack;

beforeAll(async () => {
  stack = await startTestStack({ consumers: () => [createSampleProjection(), createSampleEchoProcessor()] });
});
afterAll(async () => stack?.stop());

const rows = async () => (await stack.db.query('SELECT sample_id, value, applied FROM projection_sample.samples ORDER BY sample_id')).rows;

type DeadLetter = { key: Buffer | null; value: Buffer | null; headers: Record<string, string> };
/** The dead letters of `topic` read from the start until `enough` says so. */
async function readDlq(topic: string, enough: (got: DeadLetter[]) => boolean) {
  const consumer = stack.platform.kafka.consumer({ groupId: `${stack.config.namespace}dlq-reader-${Math.random()}`, maxWaitTimeInMs: 100 });
  const got: DeadLetter[] = [];
  await consumer.connect();
  await consumer.subscribe({ topics: [ns(stack.config, topic + '.dlq')], fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ message }) => {
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(message.headers ?? {})) headers[k] = String(v);
      got.push({ key: message.key, value: message.value, headers });
    },
  });
  await eventually(() => expect(enough(got)).toBe(true), { timeoutMs: 30_000 });
  await consumer.disconnect();
  return got;
}

describe('platform', () => {
  it('decodes an appended event with the schema fetched from the registry by id', async () => {
    const meta = await stack.appender.append('SampleRecorded', 'k1', { sampleId: 's1', value: 5, payload: Buffer.from('x') });
    expect(meta.eventId).toMatch(/^[0-9a-f-]{36}$/);
    await eventually(async () => expect(await rows()).toContainEqual({ sample_id: 's1', value: 5, applied: 1 }));
    const { rows: offsets } = await stack.db.query('SELECT sum(next_offset)::int AS n FROM projection_sample.consumer_offsets');
    expect(offsets[0].n).toBeGreaterThanOrEqual(1);
  });

  it('dead-letters garbage, unknown schema ids and rule-breaking events, and keeps the partition flowing', async () => {
    const topic = ns(stack.config, TOPIC.EXAMPLE_SAMPLES);
    const unknownId = Buffer.from([0, 0x7f, 0xff, 0xff, 0xf0, 1, 2, 3]);
    await stack.platform.producer.sendMany([
      { topic, key: 'poison', value: Buffer.from('not avro at all') },
      { topic, key: 'poison', value: unknownId },
    ]);
    await stack.appender.append('SampleRecorded', 'poison', { sampleId: 'neg', value: -1, payload: Buffer.alloc(0) });
    await stack.appender.append('SampleRecorded', 'poison', { sampleId: 'after-poison', value: 7, payload: Buffer.alloc(0) });
    await eventually(async () => expect(await rows()).toContainEqual({ sample_id: 'after-poison', value: 7, applied: 1 }));
    expect((await rows()).find((r) => r.sample_id === 'neg')).toBeUndefined();

    const dead = (await readDlq(TOPIC.EXAMPLE_SAMPLES, (g) => g.length >= 5)).filter((d) => d.headers['dbb-consumer'] === 'projection.sample');
    expect(dead).toHaveLength(3);
    expect(dead.map((d) => d.headers['dbb-error-code']).sort()).toEqual(['DBB_EVENT_INVALID', 'DBB_EVENT_INVALID', 'DBB_EVENT_INVALID']);
    expect(dead.some((d) => d.value?.equals(Buffer.from('not avro at all')))).toBe(true);
    expect(dead.some((d) => d.value?.equals(unknownId) && /unknown schema id/.test(d.headers['dbb-error']))).toBe(true);
    expect(dead.some((d) => /value must be >= 0/.test(d.headers['dbb-error']))).toBe(true);
    expect(dead.every((d) => d.headers['dbb-original-topic'] === topic && d.headers['dbb-original-offset'] !== undefined)).toBe(true);
  });

  it('dead-letters an event Postgres cannot store (NUL in its key and a string), with its key bytes, and keeps the partition flowing', async () => {
    // the gateway refuses NUL (gateway/app.ts); another producer may still write it
    await stack.appender.append('SampleRecorded', 'nul\u0000key', { sampleId: 'nul\u0000id', value: 1, payload: Buffer.alloc(0) });
    await stack.appender.append('SampleRecorded', 'nul\u0000key', { sampleId: 'after-nul', value: 2, payload: Buffer.alloc(0) });
    await eventually(async () => expect(await rows()).toContainEqual({ sample_id: 'after-nul', value: 2, applied: 1 }));
    const key = Buffer.from('nul\u0000key');
    const ours = (d: DeadLetter) => d.key?.equals(key) && d.headers['dbb-consumer'] === 'projection.sample';
    // the event and its echo (the echo processor stores nothing of it, and copies key and id): each dead-lettered once
    const dead = (await readDlq(TOPIC.EXAMPLE_SAMPLES, (g) => g.filter(ours).length >= 2)).filter(ours);
    expect(dead).toHaveLength(2);
    expect(new Set(dead.map((d) => d.headers['dbb-original-offset'])).size).toBe(2);
    expect(dead.every((d) => /0x00/.test(d.headers['dbb-error']))).toBe(true);
  });

  it('applies outbox events exactly once downstream', async () => {
    for (let i = 0; i < 200; i++) await stack.appender.append('SampleRecorded', `e${i % 7}`, { sampleId: `x${i}`, value: i, payload: Buffer.alloc(0) });
    await eventually(async () => {
      const echoes = (await rows()).filter((r) => r.sample_id.startsWith('echo-x'));
      expect(echoes).toHaveLength(200);
      expect(echoes.every((r) => r.applied === 1)).toBe(true);
      expect(echoes.reduce((s, r) => s + Number(r.value), 0)).toBe((199 * 200) / 2);
    });
  });

  it('rebuilds a projection with replay that equals the live one row for row, and live continues after the swap', async () => {
    const before = await rows();
    const res = await replayProjection(stack.platform, createSampleProjection());
    expect(res.events).toBeGreaterThan(0);
    expect(await rows()).toEqual(before);
    await stack.appender.append('SampleRecorded', 'after', { sampleId: 'after-replay', value: 3, payload: Buffer.alloc(0) });
    await eventually(async () => expect(await rows()).toContainEqual({ sample_id: 'after-replay', value: 3, applied: 1 }));
    expect((await rows()).filter((r) => r.applied !== 1)).toEqual([]);
  });
});

describe('gateway', () => {
  it('answers 401 problem+json to an unauthenticated mutating request and 403 to a weaker role', async () => {
    const res = await stack.app.inject({ method: 'GET', url: '/api/v1/whoami' });
    expect(res.statusCode).toBe(401);
    expect(res.headers['content-type']).toMatch(/application\/problem\+json/);
    expect(res.json()).toMatchObject({ status: 401, code: 'DBB_AUTH_REQUIRED' });
    const bad = await stack.app.inject({ method: 'GET', url: '/api/v1/whoami', headers: { authorization: 'Bearer nope' } });
    expect(bad.json()).toMatchObject({ status: 401, code: 'DBB_AUTH_INVALID' });
    const ok = await stack.app.inject({ method: 'GET', url: '/api/v1/whoami', headers: stack.auth('reader') });
    expect(ok.json()).toEqual({ name: 'test-reader', role: 'reader' });
  });

  it('answers 400 to malformed JSON or a body off-schema, 413 over the body limit, 415 to an unknown media type, and appends nothing', async () => {
    const url = '/api/v1/events/SampleRecorded';
    const h = { ...stack.auth('producer'), 'content-type': 'application/json' };
    const cases = [
      { payload: '{"key":', headers: h, status: 400, code: 'DBB_MALFORMED_JSON' },
      { payload: JSON.stringify({ key: 'k', body: { sampleId: 'gw-bad', value: 'NaN' } }), headers: h, status: 400, code: 'DBB_EVENT_INVALID' },
      { payload: JSON.stringify({ key: 'k', body: { sampleId: 'x'.repeat(70 * 1024 * 1024 / 70), value: 1 } }).repeat(80), headers: h, status: 413, code: 'DBB_BODY_TOO_LARGE' },
      { payload: 'key=k', headers: { ...h, 'content-type': 'application/x-www-form-urlencoded' }, status: 415, code: 'DBB_UNSUPPORTED_MEDIA_TYPE' },
      { payload: JSON.stringify({ key: 'k', body: {} }), headers: { 'content-type': 'application/json' }, status: 401, code: 'DBB_AUTH_REQUIRED' },
      { payload: JSON.stringify({ key: 'k', body: {} }), headers: { ...h, ...stack.auth('reader') }, status: 403, code: 'DBB_AUTH_FORBIDDEN' },
    ];
    for (const c of cases) {
      const res = await stack.app.inject({ method: 'POST', url, headers: c.headers, payload: c.payload });
      expect({ status: res.statusCode, code: res.json().code }).toEqual({ status: c.status, code: c.code });
      expect(res.headers['content-type']).toMatch(/application\/problem\+json/);
    }
    const missing = await stack.app.inject({ method: 'GET', url: '/no/such/route' });
    expect(missing.json()).toMatchObject({ status: 404, code: 'DBB_NOT_FOUND' });
    const ok = await stack.app.inject({ method: 'POST', url, headers: h, payload: { key: 'k', body: { sampleId: 'via-http', value: 2, payload: '' } } });
    expect(ok.json()).toMatchObject({ topic: 'dbb.example.samples' });
    expect(ok.statusCode).toBe(202);
    await eventually(async () => expect(await rows()).toContainEqual({ sample_id: 'via-http', value: 2, applied: 1 }));
    expect((await rows()).some((r) => r.sample_id === 'gw-bad')).toBe(false);
  });
});

// The native stack as clients see it: kafkajs against the broker (topics, idempotent and
// transactional produce, consumer groups) and the Confluent client against the registry.
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Kafka, logLevel } from 'kafkajs';
import { SchemaRegistry, SchemaType, COMPATIBILITY } from '@kafkajs/confluent-schema-registry';
import { ensureStack, stackStatus, type StackInfo } from '../infra/stack.ts';

const stateDir = process.env.DBB_STATE_DIR ?? join(process.cwd(), '.dbb');
const run = randomUUID().slice(0, 8);
let stack: StackInfo;

beforeAll(async () => {
  stack = await ensureStack({ stateDir, databaseUrl: process.env.DATABASE_URL });
}, 300_000);

const record = (fields: object[], name = 'GwChunkReceived') => ({
  type: 'record',
  name,
  namespace: 'dbb.gw',
  topic: 'dbb.gw.datastore',
  fields: [{ name: 'meta', type: { type: 'record', name: 'Meta', namespace: 'dbb.common', fields: [{ name: 'eventId', type: 'string' }] } }, ...fields],
});

describe('native stack', () => {
  it('reports both parts up and reuses them', async () => {
    const again = await ensureStack({ stateDir });
    expect(again.started).toEqual([]);
    expect(again.registryUrl).toMatch(/\/apis\/ccompat\/v7$/);
    const status = await stackStatus({ stateDir });
    expect(status.map((s) => [s.name, s.up])).toEqual([['kafka', true], ['registry', true]]);
  });
});

describe('kafka with kafkajs', () => {
  const kafka = new Kafka({ clientId: `infra-test-${run}`, brokers: ['127.0.0.1:9092'], logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  const topic = `test-${run}.infra.probe`;

  beforeAll(async () => {
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 3 }], waitForLeaders: true });
  });
  afterAll(async () => {
    await admin.deleteTopics({ topics: [topic] }).catch(() => {});
    await admin.disconnect();
  });

  it('does not auto-create topics', async () => {
    const producer = kafka.producer({ allowAutoTopicCreation: true, retry: { retries: 1 } });
    await producer.connect();
    await expect(producer.send({ topic: `test-${run}.missing`, messages: [{ value: 'x' }], timeout: 2000 })).rejects.toThrow();
    await producer.disconnect();
  });

  it('produces idempotently and transactionally and consumes in a group', async () => {
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    await producer.send({ topic, messages: Array.from({ length: 20 }, (_, i) => ({ key: `k${i % 5}`, value: `v${i}` })) });
    await producer.disconnect();

    const tp = kafka.producer({ transactionalId: `test-${run}-tx`, idempotent: true, maxInFlightRequests: 1 });
    await tp.connect();
    const committed = await tp.transaction();
    await committed.send({ topic, messages: [{ key: 'tx', value: 'committed' }] });
    await committed.commit();
    const aborted = await tp.transaction();
    await aborted.send({ topic, messages: [{ key: 'tx', value: 'aborted' }] });
    await aborted.abort();
    await tp.disconnect();

    const consumer = kafka.consumer({ groupId: `test-${run}-group`, readUncommitted: false });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    const seen: string[] = [];
    await new Promise<void>((resolve) => {
      consumer.run({
        eachMessage: async ({ message }) => {
          seen.push(message.value!.toString());
          if (seen.length === 21) resolve();
        },
      });
    });
    await consumer.disconnect();
    expect(seen).toContain('committed');
    expect(seen).not.toContain('aborted');
    expect(seen.filter((v) => v.startsWith('v')).sort()).toEqual(Array.from({ length: 20 }, (_, i) => `v${i}`).sort());
  });

  it('accepts records up to ~10 MB', async () => {
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic, messages: [{ value: Buffer.alloc(9 * 1024 * 1024, 1) }] });
    await producer.disconnect();
  });
});

describe('registry with the Confluent client', () => {
  const registryUrl = () => stack.registryUrl;
  const subject = `test-${run}.dbb.gw.datastore-dbb.gw.GwChunkReceived`;
  const v1 = record([{ name: 'size', type: 'long' }]);
  const v2 = record([{ name: 'size', type: 'long' }, { name: 'note', type: ['null', 'string'], default: null }]);
  const breaking = record([{ name: 'size', type: 'long' }, { name: 'required', type: 'string' }]);

  afterAll(async () => {
    const subjects: string[] = await fetch(`${registryUrl()}/subjects?subjectPrefix=${encodeURIComponent(`test-${run}.`)}`).then((r) => r.json());
    for (const s of subjects) {
      await fetch(`${registryUrl()}/subjects/${encodeURIComponent(s)}`, { method: 'DELETE' });
      await fetch(`${registryUrl()}/subjects/${encodeURIComponent(s)}?permanent=true`, { method: 'DELETE' });
    }
  });

  it('registers, looks up, encodes and decodes by id', async () => {
    const registry = new SchemaRegistry({ host: registryUrl() });
    const { id } = await registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(v1) }, { subject, compatibility: COMPATIBILITY.BACKWARD_TRANSITIVE });
    expect(id).toBeGreaterThan(0);
    // idempotent: same schema, same id (also from a fresh client with no cache)
    const fresh = new SchemaRegistry({ host: registryUrl() });
    expect((await fresh.register({ type: SchemaType.AVRO, schema: JSON.stringify(v1) }, { subject, compatibility: COMPATIBILITY.BACKWARD_TRANSITIVE })).id).toBe(id);
    expect(await fresh.getLatestSchemaId(subject)).toBe(id);
    expect(await fresh.getRegistryIdBySchema(subject, { type: SchemaType.AVRO, schema: JSON.stringify(v1) })).toBe(id);

    const value = { meta: { eventId: 'e1' }, size: 42 };
    const buf = await registry.encode(id, value);
    expect(buf[0]).toBe(0);
    expect(buf.readInt32BE(1)).toBe(id);
    expect(await fresh.decode(buf)).toEqual(value);

    const config = await fetch(`${registryUrl()}/config/${encodeURIComponent(subject)}`).then((r) => r.json());
    expect(config).toEqual({ compatibilityLevel: 'BACKWARD_TRANSITIVE' });
  });

  it('enforces BACKWARD_TRANSITIVE set per subject with PUT /config/<subject>', async () => {
    const s = `${subject}-compat`;
    const put = await fetch(`${registryUrl()}/config/${encodeURIComponent(s)}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/vnd.schemaregistry.v1+json' },
      body: JSON.stringify({ compatibility: 'BACKWARD_TRANSITIVE' }),
    });
    expect(put.status).toBe(200);
    expect(await put.json()).toEqual({ compatibility: 'BACKWARD_TRANSITIVE' });

    const registry = new SchemaRegistry({ host: registryUrl() });
    const opts = { subject: s, compatibility: COMPATIBILITY.BACKWARD_TRANSITIVE };
    const { id: id1 } = await registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(v1) }, opts);
    const { id: id2 } = await registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(v2) }, opts);
    expect(id2).not.toBe(id1);

    const bad = await fetch(`${registryUrl()}/subjects/${encodeURIComponent(s)}/versions`, {
      method: 'POST',
      headers: { 'content-type': 'application/vnd.schemaregistry.v1+json' },
      body: JSON.stringify({ schema: JSON.stringify(breaking) }),
    });
    expect(bad.status).toBe(409);
    expect((await bad.json()).error_code).toBe(409);
    await expect(registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(breaking) }, opts)).rejects.toThrow(/incompatible/i);

    // data written with v1 decodes with v2 as reader
    const buf = await registry.encode(id1, { meta: { eventId: 'e2' }, size: 7 });
    expect(await registry.decode(buf, { [SchemaType.AVRO]: { readerSchema: v2 } } as never)).toEqual({ meta: { eventId: 'e2' }, size: 7, note: null });

    const versions = await fetch(`${registryUrl()}/subjects/${encodeURIComponent(s)}/versions`).then((r) => r.json());
    expect(versions).toEqual([1, 2]);
    const check = await fetch(`${registryUrl()}/compatibility/subjects/${encodeURIComponent(s)}/versions/latest`, {
      method: 'POST',
      headers: { 'content-type': 'application/vnd.schemaregistry.v1+json' },
      body: JSON.stringify({ schema: JSON.stringify(breaking) }),
    }).then((r) => r.json());
    expect(check).toEqual({ is_compatible: false });
  });

  it('shares one global id for one schema across subjects, and answers 404s like Confluent', async () => {
    const registry = new SchemaRegistry({ host: registryUrl() });
    const schema = { type: SchemaType.AVRO as const, schema: JSON.stringify(record([{ name: 'n', type: 'int' }], 'Shared')) };
    const a = await registry.register(schema, { subject: `${subject}-a` });
    const b = await registry.register(schema, { subject: `${subject}-b` });
    expect(b.id).toBe(a.id);
    expect((await fetch(`${registryUrl()}/schemas/ids/99999999`)).status).toBe(404);
    const missing = await fetch(`${registryUrl()}/subjects/${encodeURIComponent(`${subject}-none`)}/versions/latest`);
    expect(missing.status).toBe(404);
    expect((await missing.json()).error_code).toBe(40401);
  });
});

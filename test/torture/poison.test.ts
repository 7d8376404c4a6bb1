// Fault suite, poison: 100 bad records (garbage bytes, an unknown schema id, valid Avro that breaks the
// projection's rule) among 10,000 over 6 partitions. Exactly those 100 land in the .dlq, each with its
// original bytes and a reason; every good event is applied once and in order; no partition is stuck.
import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ns } from '../../platform/config.ts';
import { makeMeta, type RawRecord } from '../../platform/producer.ts';
import { startTestStack, type TestStack } from '../support/stack.ts';
import { createTortureProjection } from './consumers.ts';
import { appliedRows, checkHistory, countOf, EVENTS_TOPIC, figure, historyFigures, offsetsVsLogEnd, printFigures, readDlq, startConsumersRetrying, until, type Produced } from './support.ts';

const TOTAL = 10_000;
const BAD = 100;
const KEYS = 60;
const TEST = 'poison (100 bad of 10,000)';

let stack: TestStack;

beforeAll(async () => {
  stack = await startTestStack();
  await startConsumersRetrying(stack, () => [createTortureProjection()]);
}, 300_000);
afterAll(async () => {
  await stack?.stop();
  printFigures('torture: poison');
}, 180_000);

it('dead-letters exactly the 100 bad records with reasons, loses no good event, leaves no partition stuck', async () => {
  const topic = ns(stack.config, EVENTS_TOPIC);
  const badAt = new Set<number>();
  while (badAt.size < BAD) badAt.add(Math.floor(Math.random() * TOTAL));
  const records: RawRecord[] = [];
  const good: Produced[] = [];
  const bad = new Map<string, 'garbage' | 'unknown-schema' | 'rule'>();
  const seqOf = new Map<string, number>();
  let kind = 0;
  for (let i = 0; i < TOTAL; i++) {
    const key = `p${i % KEYS}`;
    const seq = seqOf.get(key) ?? 0;
    seqOf.set(key, seq + 1);
    const eventId = randomUUID();
    let value: Buffer;
    if (!badAt.has(i)) {
      value = stack.platform.serde.encode('TortureRecorded', { meta: makeMeta('torture-poison', { eventId }), key, seq, value: 1 });
      good.push({ eventId, key, seq });
    } else {
      const k = (['garbage', 'unknown-schema', 'rule'] as const)[kind++ % 3];
      value = k === 'garbage' ? Buffer.from(`poison #${i}: not Avro at all ${randomBytes(4).toString('hex')}`)
        : k === 'unknown-schema' ? Buffer.concat([Buffer.from([0, 0x7f, 0xff, 0xff, 0xf0]), randomBytes(12)])
        : stack.platform.serde.encode('TortureRecorded', { meta: makeMeta('torture-poison', { eventId }), key, seq, value: -1 });
      bad.set(value.toString('hex'), k);
    }
    records.push({ topic, key, value });
  }
  await stack.platform.producer.sendMany(records);

  await until('good events applied', async () => (await countOf(stack.db, 'SELECT count(*)::int AS n FROM projection_torture.applied')) >= TOTAL - BAD, 180_000, 300);
  const dead = (await readDlq(stack, EVENTS_TOPIC, BAD)).filter((d) => d.headers['dbb-consumer'] === 'projection.torture');
  const history = checkHistory('good events (projection)', good, await appliedRows(stack.db));
  await until('offsets at log end', async () => (await offsetsVsLogEnd(stack, 'projection_torture', [EVENTS_TOPIC])).behind.length === 0, 30_000).catch(() => {});
  const offsets = await offsetsVsLogEnd(stack, 'projection_torture', [EVENTS_TOPIC]);

  const deadKeys = dead.map((d) => d.value?.toString('hex') ?? '');
  const exact = deadKeys.filter((k) => bad.has(k));
  const withReason = dead.filter((d) => d.headers['dbb-error']?.length > 0 && d.headers['dbb-error-code'] && d.headers['dbb-original-offset'] !== undefined && d.headers['dbb-original-topic'] === topic);
  const reasons = (k: string) => dead.filter((d) => bad.get(d.value?.toString('hex') ?? '') === k).map((d) => d.headers['dbb-error']);
  const partitionsWithPoison = new Set(dead.map((d) => d.headers['dbb-original-partition'])).size;

  figure(TEST, 'records / bad (garbage, unknown schema id, rule-breaking)', `${TOTAL} / ${BAD} (${[...bad.values()].filter((k) => k === 'garbage').length}, ${[...bad.values()].filter((k) => k === 'unknown-schema').length}, ${[...bad.values()].filter((k) => k === 'rule').length})`);
  figure(TEST, 'DLQ records / exactly the bad ones / with reason headers', `${dead.length} / ${exact.length} / ${withReason.length}`, `${BAD} / ${BAD} / ${BAD}`);
  figure(TEST, 'partitions that carried poison', `${partitionsWithPoison} of 6`);
  historyFigures(TEST, history);
  figure(TEST, 'stored offsets = log end (partitions behind)', `${offsets.behind.length} of ${offsets.partitions}`, '0');

  expect(dead).toHaveLength(BAD);
  expect(new Set(exact).size).toBe(BAD);
  expect(withReason).toHaveLength(BAD);
  expect(reasons('unknown-schema').every((r) => /unknown schema id/i.test(r))).toBe(true);
  expect(reasons('rule').every((r) => /value must be >= 0/.test(r))).toBe(true);
  expect(reasons('garbage').every((r) => r.length > 0)).toBe(true);
  expect(history).toMatchObject({ produced: TOTAL - BAD, applied: TOTAL - BAD, lost: 0, duplicated: 0, reordered: 0, unexpected: 0 });
  expect(offsets.behind).toEqual([]);
}, 300_000);

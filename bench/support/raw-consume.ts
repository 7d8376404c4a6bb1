// The baseline of every replay figure: a bare kafkajs consumer (fresh group, eachBatch, nothing stored)
// reading `topics` from the start to their current ends.
import type { Kafka } from 'kafkajs';
import { until } from './stack.ts';

/** Phases of a read, ms from its start: group joined (raw consumer only), first and last record handled. */
export interface ReadPhases { joinMs?: number; firstMs: number; lastMs: number; firstBatch: number }

/** Reads every record of `topics` up to their current ends; events/s from subscribe to the last record
 *  (group join included, as in a replay), and the phases: start → first record, first → last.
 *  `onMessage` (e.g. Avro decoding) runs on each record. */
export async function rawConsume(kafka: Kafka, topics: string[], groupId: string, onMessage?: (value: Buffer | null) => Promise<void> | void): Promise<{ n: number; perS: number; phases: ReadPhases }> {
  const admin = kafka.admin();
  await admin.connect();
  let total = 0;
  for (const topic of topics) total += (await admin.fetchTopicOffsets(topic)).reduce((s, p) => s + Number(p.high) - Number(p.low), 0);
  const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 100, maxBytesPerPartition: 8 << 20 });
  let n = 0;
  const t0 = performance.now();
  const phases: ReadPhases = { firstMs: NaN, lastMs: NaN, firstBatch: 0 };
  consumer.on(consumer.events.GROUP_JOIN, () => { phases.joinMs ??= performance.now() - t0; });
  await consumer.connect();
  await consumer.subscribe({ topics, fromBeginning: true });
  await consumer.run({
    autoCommit: false,
    partitionsConsumedConcurrently: 3,
    eachBatch: async ({ batch }) => {
      if (onMessage) for (const m of batch.messages) await onMessage(m.value);
      if (!n) { phases.firstMs = performance.now() - t0; phases.firstBatch = batch.messages.length; }
      n += batch.messages.length;
      if (n >= total) phases.lastMs = performance.now() - t0;
    },
  });
  await until(() => n >= total, 600_000, 5, `raw consumer (${n}/${total})`);
  const s = (performance.now() - t0) / 1000;
  await consumer.disconnect();
  await admin.deleteGroups([groupId]).catch(() => {});
  await admin.disconnect();
  return { n, perS: n / s, phases };
}

/** Steady-state rate of a replay: records after the first batch over first → last applied. */
export const steadyPerS = (n: number, p: ReadPhases) => (n - p.firstBatch) / ((p.lastMs - p.firstMs) / 1000);

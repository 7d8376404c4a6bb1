// The baseline of every replay figure: a bare kafkajs consumer (fresh group, eachBatch, nothing stored)
// reading `topics` from the start to their current ends.
import type { Kafka } from 'kafkajs';
import { until } from './stack.ts';

/** Reads every record of `topics` up to their current ends; events/s from subscribe to the last record
 *  (group join included, as in a replay). `onMessage` (e.g. Avro decoding) runs on each record. */
export async function rawConsume(kafka: Kafka, topics: string[], groupId: string, onMessage?: (value: Buffer | null) => Promise<void> | void): Promise<{ n: number; perS: number }> {
  const admin = kafka.admin();
  await admin.connect();
  let total = 0;
  for (const topic of topics) total += (await admin.fetchTopicOffsets(topic)).reduce((s, p) => s + Number(p.high) - Number(p.low), 0);
  const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 100, maxBytesPerPartition: 8 << 20 });
  let n = 0;
  const t0 = performance.now();
  await consumer.connect();
  await consumer.subscribe({ topics, fromBeginning: true });
  await consumer.run({
    autoCommit: false,
    partitionsConsumedConcurrently: 3,
    eachBatch: async ({ batch }) => {
      if (onMessage) for (const m of batch.messages) await onMessage(m.value);
      n += batch.messages.length;
    },
  });
  await until(() => n >= total, 600_000, 5, `raw consumer (${n}/${total})`);
  const s = (performance.now() - t0) / 1000;
  await consumer.disconnect();
  await admin.deleteGroups([groupId]).catch(() => {});
  await admin.disconnect();
  return { n, perS: n / s };
}

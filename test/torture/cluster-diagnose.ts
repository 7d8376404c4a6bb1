// What decides between the open findings of the 3-broker run (docs/guarantees.md) when it fails:
// per input partition, the ids produced there (kafkajs's default partitioner on the key) vs the
// partition's high watermark vs the rows applied from it vs each group's stored offset; and the
// test process's BatchingProducer state (queue, the batch in flight and its step, last requests).
import { Partitioners, type PartitionMetadata } from 'kafkajs';
import { ns } from '../../platform/config.ts';
import type { TestStack } from '../support/stack.ts';
import { EVENTS_TOPIC, type Produced } from './support.ts';

const partitionOf = (key: string, partitions: number): number => {
  const meta = Array.from({ length: partitions }, (_, i) => ({ partitionId: i, leader: 0 }) as PartitionMetadata);
  return Partitioners.DefaultPartitioner()({ topic: '', partitionMetadata: meta, message: { key, value: null } });
};

export interface PartitionReport { partition: number; /** -1: unknown */ produced: number; highWatermark: number; appliedProjection: number; storedProjection: number; storedProcessor: number }

/** One row per input partition; `lost` = a partition whose log holds fewer records than were acknowledged there. */
export async function partitionReport(stack: TestStack, produced: Produced[] | null): Promise<{ rows: PartitionReport[]; lost: number[]; notConsumed: number[] }> {
  const topic = ns(stack.config, EVENTS_TOPIC);
  const admin = stack.platform.kafka.admin();
  await admin.connect();
  try {
    const offsets = await admin.fetchTopicOffsets(topic);
    const applied = await stack.db.query<{ p: number; n: number }>('SELECT src_partition AS p, count(*)::int AS n FROM projection_torture.applied GROUP BY 1');
    const stored = async (schema: string) => (await stack.db.query<{ partition: number; next_offset: string }>(`SELECT partition, next_offset::text FROM ${schema}.consumer_offsets WHERE topic = $1`, [topic])).rows;
    const [proj, proc] = [await stored('projection_torture'), await stored('processor_torture')];
    const rows = offsets.map((o) => ({
      partition: o.partition,
      produced: produced ? produced.filter((p) => partitionOf(p.key, offsets.length) === o.partition).length : -1, // -1: appends did not settle
      highWatermark: Number(o.high),
      appliedProjection: applied.rows.find((r) => r.p === o.partition)?.n ?? 0,
      storedProjection: Number(proj.find((r) => r.partition === o.partition)?.next_offset ?? 0),
      storedProcessor: Number(proc.find((r) => r.partition === o.partition)?.next_offset ?? 0),
    })).sort((a, b) => a.partition - b.partition);
    return {
      rows,
      lost: rows.filter((r) => r.highWatermark < r.produced).map((r) => r.partition),
      notConsumed: rows.filter((r) => r.storedProjection < r.highWatermark || r.storedProcessor < r.highWatermark).map((r) => r.partition),
    };
  } finally {
    await admin.disconnect();
  }
}

export function printPartitionReport(r: Awaited<ReturnType<typeof partitionReport>>) {
  console.log('partition | acknowledged there | high watermark | applied (projection) | stored offset projection / processor');
  for (const x of r.rows) console.log(`p${x.partition} | ${x.produced} | ${x.highWatermark} | ${x.appliedProjection} | ${x.storedProjection} / ${x.storedProcessor}`);
  console.log(`partitions with fewer records in the log than acknowledged: [${r.lost.join(', ')}]; partitions a group stopped short of the log end on: [${r.notConsumed.join(', ')}]`);
}

export function printProducerState(stack: TestStack, why: string) {
  console.log(`BatchingProducer of the test process (${why}): ${JSON.stringify(stack.platform.producer.state(), null, 1)}`);
}

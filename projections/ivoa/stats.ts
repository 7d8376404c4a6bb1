// `dbb ivoa stats`: ObsCore rows, DIDs, replicas, and how far projection.ivoa lags behind the log
// (Kafka high-water marks minus the offsets the projection stored in its own schema).
import type { Kafka } from 'kafkajs';
import type pg from 'pg';
import { ns, type Config } from '../../platform/config.ts';
import { groupIdOf } from '../../platform/consumer-runtime.ts';
import { TOPIC } from '../../schemas/generated/index.ts';
import { getCounts, type IvoaCounts } from './queries.ts';
import { NAME } from './index.ts';

export interface PartitionLag { topic: string; partition: number; next: number; end: number; lag: number }
export interface IvoaStats extends IvoaCounts { lag: number; partitions: PartitionLag[] }

export async function ivoaStats(deps: { db: Pick<pg.Pool, 'query'>; kafka: Kafka; config: Pick<Config, 'namespace'> }): Promise<IvoaStats> {
  const counts = await getCounts(deps.db);
  const topic = ns(deps.config, TOPIC.IVOA_DIDS);
  const { rows } = await deps.db.query(
    'SELECT partition, next_offset FROM projection_ivoa.consumer_offsets WHERE group_id = $1 AND topic = $2',
    [groupIdOf(deps.config, { name: NAME }), topic],
  );
  const stored = new Map<number, number>(rows.map((r: { partition: number; next_offset: string | number }) => [r.partition, Number(r.next_offset)]));
  const admin = deps.kafka.admin();
  await admin.connect();
  try {
    const partitions = (await admin.fetchTopicOffsets(topic)).map((p) => {
      const end = Number(p.high);
      const next = stored.get(p.partition) ?? Number(p.low);
      return { topic, partition: p.partition, next, end, lag: Math.max(0, end - next) };
    });
    return { ...counts, lag: partitions.reduce((n, p) => n + p.lag, 0), partitions };
  } finally {
    await admin.disconnect();
  }
}

export function formatStats(s: IvoaStats): string {
  return [
    `ObsCore rows   ${s.rows}`,
    `DIDs           ${s.dids} published, ${s.deletedDids} deleted`,
    `replicas       ${s.replicas}`,
    `lag            ${s.lag} events behind ${s.partitions[0]?.topic ?? TOPIC.IVOA_DIDS}`,
    ...s.partitions.map((p) => `  partition ${p.partition}: at ${p.next} of ${p.end}`),
  ].join('\n');
}

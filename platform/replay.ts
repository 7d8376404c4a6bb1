// `dbb replay <projection>`: rebuilds a projection into a shadow schema from offset 0 up to the log
// end taken at the start, then swaps it in atomically. The previous schema is kept as <schema>__old
// until the next replay. A live instance of the projection keeps running: its next batch fails the
// offset fence against the new schema and it continues from the replayed position.
import { randomUUID } from 'node:crypto';
import { ns } from './config.ts';
import { quoteIdent, schemaOf } from './db.ts';
import { groupIdOf } from './consumer-runtime.ts';
import type { Platform } from './runtime.ts';
import type { ConsumerSpec } from './types.ts';

export interface ReplayResult { events: number; ms: number; schema: string; previous: string | null }

export async function replayProjection(platform: Platform, spec: ConsumerSpec, opts: { onProgress?: (done: number, total: number) => void } = {}): Promise<ReplayResult> {
  if (spec.kind !== 'projection') throw new Error(`${spec.name} is a ${spec.kind}: only projections can be replayed (processors have side effects)`);
  const { config, db, kafka } = platform;
  const live = schemaOf(spec.name);
  const shadow = `${live}__shadow`;
  const old = `${live}__old`;
  const started = Date.now();
  await db.query(`DROP SCHEMA IF EXISTS ${quoteIdent(shadow)} CASCADE`);

  const admin = kafka.admin();
  await admin.connect();
  const stopAt = new Map<string, bigint>();
  let total = 0;
  const groupId = ns(config, `dbb.replay.${spec.name}.${randomUUID()}`);
  try {
    for (const topic of spec.topics.map((t) => ns(config, t))) {
      for (const p of await admin.fetchTopicOffsets(topic)) {
        stopAt.set(`${topic}:${p.partition}`, BigInt(p.high));
        total += Number(BigInt(p.high) - BigInt(p.low));
      }
    }
    const replay = await platform.startConsumer(spec, {
      schema: shadow,
      kafkaGroupId: groupId,
      offsetsGroup: groupIdOf(config, spec),
      stopAt,
      onProgress: (done) => opts.onProgress?.(done, total),
    });
    await replay.caughtUp;
    await replay.stop();
    platform.consumers.splice(platform.consumers.indexOf(replay), 1);
    await admin.deleteGroups([groupId]).catch(() => {});
  } finally {
    await admin.disconnect();
  }

  const client = await db.connect();
  let previous: string | null = null;
  try {
    await client.query('BEGIN');
    await client.query(`DROP SCHEMA IF EXISTS ${quoteIdent(old)} CASCADE`);
    const { rowCount } = await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [live]);
    if (rowCount) { await client.query(`ALTER SCHEMA ${quoteIdent(live)} RENAME TO ${quoteIdent(old)}`); previous = old; }
    await client.query(`ALTER SCHEMA ${quoteIdent(shadow)} RENAME TO ${quoteIdent(live)}`);
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    client.release();
  }
  opts.onProgress?.(total, total);
  return { events: total, ms: Date.now() - started, schema: live, previous };
}

// `dbb replay <projection>`: rebuilds a projection into a shadow schema from offset 0 up to the log
// end taken at the start, then swaps it in atomically. The previous schema is kept as <schema>__old
// until the next replay. A live instance of the projection keeps running: its next batch fails the
// offset fence against the new schema and it continues from the replayed position.
// `dbb replay <projection> --until <time | offsets> --into <name>` folds the log up to that point into a
// read-only snapshot schema instead (platform/snapshots.ts, docs/history.md); nothing is swapped.
import { randomUUID } from 'node:crypto';
import { ns } from './config.ts';
import { quoteIdent, schemaOf, withTx } from './db.ts';
import { groupIdOf } from './consumer-runtime.ts';
import { isSnapshotName, sealSnapshot, snapshotSchema, SNAPSHOT_NAME } from './snapshots.ts';
import type { Platform } from './runtime.ts';
import type { ConsumerSpec } from './types.ts';

export interface ReplayResult { events: number; ms: number; schema: string; previous: string | null }

export async function replayProjection(platform: Platform, spec: ConsumerSpec, opts: { onProgress?: (done: number, total: number) => void } = {}): Promise<ReplayResult> {
  if (spec.kind !== 'projection') throw new Error(`${spec.name} is a ${spec.kind}: only projections can be replayed (processors have side effects)`);
  const { db } = platform;
  const live = schemaOf(spec.name);
  const shadow = `${live}__shadow`;
  const old = `${live}__old`;
  const started = Date.now();
  await db.query(`DROP SCHEMA IF EXISTS ${quoteIdent(shadow)} CASCADE`);

  const total = await consumeInto(platform, spec, shadow, async (topic, admin) => {
    return (await admin.fetchTopicOffsets(topic)).map((p) => ({ partition: p.partition, low: BigInt(p.low), end: BigInt(p.high) }));
  }, opts.onProgress);

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

type Admin = ReturnType<Platform['kafka']['admin']>;
/** Per partition of a (namespaced) topic: where the log starts and where this replay stops (exclusive). */
type Ends = (topic: string, admin: Admin) => Promise<{ partition: number; low: bigint; end: bigint }[]>;

/** Consumes the spec's topics from offset 0 into `schema` up to the ends given per partition; returns
 *  the number of records to apply (the progress total). */
async function consumeInto(platform: Platform, spec: ConsumerSpec, schema: string, ends: Ends, onProgress?: (done: number, total: number) => void, stopAtOut?: Map<string, bigint>): Promise<number> {
  const { config, kafka } = platform;
  const admin = kafka.admin();
  await admin.connect();
  const stopAt = stopAtOut ?? new Map<string, bigint>();
  let total = 0;
  const groupId = ns(config, `dbb.replay.${spec.name}.${randomUUID()}`);
  try {
    for (const topic of spec.topics.map((t) => ns(config, t))) {
      for (const p of await ends(topic, admin)) {
        stopAt.set(`${topic}:${p.partition}`, p.end);
        total += Number(p.end > p.low ? p.end - p.low : 0n);
      }
    }
    const replay = await platform.startConsumer(spec, {
      schema,
      kafkaGroupId: groupId,
      offsetsGroup: groupIdOf(config, spec),
      stopAt,
      onProgress: (done) => onProgress?.(done, total),
    });
    await replay.caughtUp;
    await replay.stop();
    platform.consumers.splice(platform.consumers.indexOf(replay), 1);
    await admin.deleteGroups([groupId]).catch(() => {});
  } finally {
    await admin.disconnect();
  }
  return total;
}

/** Where a snapshot stops: the first record whose Kafka timestamp is after `at` (ms), or explicit
 *  per-partition end offsets (exclusive, like a consumer's committed offset), keyed `topic:partition`. */
export type Until = { kind: 'time'; at: number; text: string } | { kind: 'offsets'; offsets: Map<string, bigint>; text: string };

/** `2026-12-01T12:00:00Z` | `offsets:dbb.staging.requests:0=12,dbb.staging.requests:1=40` | `offsets:0=12,1=40`
 *  (topic omitted: the projection's only topic). */
export function parseUntil(text: string): Until {
  if (text.startsWith('offsets:')) {
    const offsets = new Map<string, bigint>();
    for (const part of text.slice('offsets:'.length).split(',').filter(Boolean)) {
      const m = /^(?:([\w.-]+):)?(\d+)=(\d+)$/.exec(part.trim());
      if (!m) throw new Error(`bad --until offsets part "${part}": expected [topic:]partition=offset`);
      offsets.set(`${m[1] ?? ''}:${m[2]}`, BigInt(m[3]));
    }
    if (!offsets.size) throw new Error('--until offsets: lists no partition');
    return { kind: 'offsets', offsets, text };
  }
  // a date alone would be read as UTC midnight by Date.parse: ask for the time explicitly
  const at = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/.test(text) ? Date.parse(text) : NaN;
  if (!Number.isFinite(at)) throw new Error(`bad --until "${text}": an ISO 8601 time (2026-12-01T12:00:00Z) or offsets:[topic:]partition=offset,...`);
  return { kind: 'time', at, text: new Date(at).toISOString() };
}

export interface SnapshotResult { name: string; schema: string; events: number; ms: number; stopOffsets: Record<string, string> }

/** Folds the spec's topics from offset 0 up to `until` into `<projection schema>_asof_<into>`, seals
 *  it read-only and records it in platform.snapshots. Refuses a name already used for this projection. */
export async function replaySnapshot(platform: Platform, spec: ConsumerSpec, opts: { until: Until; into: string; onProgress?: (done: number, total: number) => void }): Promise<SnapshotResult> {
  if (spec.kind !== 'projection') throw new Error(`${spec.name} is a ${spec.kind}: only projections have snapshots`);
  if (!isSnapshotName(opts.into)) throw new Error(`bad snapshot name "${opts.into}": must match ${SNAPSHOT_NAME}`);
  const { config, db } = platform;
  const schema = snapshotSchema(spec.name, opts.into);
  const taken = await db.query('SELECT 1 FROM platform.snapshots WHERE name = $1 AND projection = $2', [opts.into, spec.name]);
  if (taken.rowCount) throw new Error(`snapshot ${opts.into} of ${spec.name} exists; drop it first (dbb replay --drop ${opts.into})`);
  const started = Date.now();
  await db.query(`DROP SCHEMA IF EXISTS ${quoteIdent(schema)} CASCADE`); // a build that died before its seal
  const { until } = opts;
  const single = spec.topics.length === 1 ? spec.topics[0] : null;
  if (until.kind === 'offsets') {
    for (const k of until.offsets.keys()) {
      const topic = k.slice(0, k.lastIndexOf(':')) || single;
      if (!topic || !spec.topics.includes(topic)) throw new Error(`--until ${k}: ${spec.name} reads ${spec.topics.join(', ')}${single ? '' : ' (name the topic)'}`);
    }
  }
  const stopAt = new Map<string, bigint>();
  const total = await consumeInto(platform, spec, schema, async (topic, admin) => {
    const base = topic.slice(ns(config, '').length);
    const log = await admin.fetchTopicOffsets(topic);
    const cut = until.kind === 'time' ? await admin.fetchTopicOffsetsByTimestamp(topic, until.at + 1) : null;
    return log.map((p) => {
      const high = BigInt(p.high);
      let end: bigint;
      if (cut) end = BigInt(cut.find((c) => c.partition === p.partition)?.offset ?? p.high);
      else {
        const given = (until as Extract<Until, { kind: 'offsets' }>).offsets;
        const o = given.get(`${base}:${p.partition}`) ?? (base === single ? given.get(`:${p.partition}`) : undefined);
        if (o === undefined) throw new Error(`--until offsets: no offset for ${base} partition ${p.partition} (list every partition)`);
        end = o;
      }
      return { partition: p.partition, low: BigInt(p.low), end: end > high ? high : end };
    });
  }, opts.onProgress, stopAt);
  const stopOffsets = Object.fromEntries([...stopAt].map(([k, v]) => [k.slice(ns(config, '').length), String(v)]));
  await withTx(db, (tx) => sealSnapshot(tx, { name: opts.into, projection: spec.name, schema, until: until.text, stopOffsets, events: total }));
  opts.onProgress?.(total, total);
  return { name: opts.into, schema, events: total, ms: Date.now() - started, stopOffsets };
}

// Read-only looks at the log and the consumers, for the CLI (`dbb topics|lag|status`), `/metrics` and
// the gateway's ops routes: topics, consumer lag, dead letters, replay progress. Appends nothing;
// opens a Kafka admin connection per call.
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { baseTopic, createKafka, DLQ_SUFFIX } from './kafka.ts';
import { ns, type Config } from './config.ts';
import { quoteIdent } from './db.ts';
import { createLogger } from './log.ts';

export interface InspectDeps { config: Config; db: Pick<pg.Pool, 'query'> }
export interface DeadLetter { partition: number; offset: string; timestamp: string; key: string | null; headers: Record<string, string>; bytes: number }

/** A logger for short-lived admin clients: errors only, on stderr (stdout is the CLI's output). */
export const quiet = () => createLogger({ level: process.env.LOG_LEVEL ?? 'error', to: 'stderr' });

export async function withAdmin<T>(config: Config, fn: (admin: ReturnType<ReturnType<typeof createKafka>['admin']>) => Promise<T>): Promise<T> {
  const admin = createKafka(config, quiet(), 'dbb-inspect').admin();
  await admin.connect();
  try { return await fn(admin); } finally { await admin.disconnect(); }
}

export async function listTopics(config: Config) {
  return withAdmin(config, async (admin) => {
    const names = (await admin.listTopics()).filter((t) => t.startsWith(ns(config, 'dbb.'))).sort();
    const out = [];
    for (const topic of names) {
      const offs = await admin.fetchTopicOffsets(topic);
      out.push({ topic: baseTopic(config, topic), partitions: offs.length, events: offs.reduce((s, o) => s + Number(o.high) - Number(o.low), 0) });
    }
    return out;
  });
}

/** The one lag figure (`dbb lag`, `dbb status`, `/metrics`, the console): per consumer group, log end
 *  minus the offsets the runtime stores in Postgres (each consumer's schema has `consumer_offsets`;
 *  platform/consumer-runtime.ts seeks to those, so they, not Kafka's committed offsets, are where a
 *  consumer resumes). Replay shadows, retired schemas and point-in-time snapshots (`_asof_`, stopped on
 *  purpose) are left out (see replayProgress). */
export async function consumerLag(deps: InspectDeps): Promise<{ group: string; lag: number }[]> {
  const { config, db } = deps;
  const { rows: schemas } = await db.query<{ nspname: string }>(`SELECT n.nspname FROM pg_namespace n JOIN pg_class c ON c.relnamespace = n.oid
    WHERE c.relname = 'consumer_offsets' AND n.nspname NOT LIKE '%\\_\\_shadow' AND n.nspname NOT LIKE '%\\_\\_old'
    AND n.nspname NOT LIKE '%\\_asof\\_%' ORDER BY 1`);
  const offs: { group_id: string; topic: string; partition: number; next_offset: string }[] = [];
  for (const { nspname } of schemas) {
    offs.push(...(await db.query(`SELECT group_id, topic, partition, next_offset FROM ${quoteIdent(nspname)}.consumer_offsets WHERE group_id LIKE $1`, [`${ns(config, 'dbb.')}%`])).rows);
  }
  if (!offs.length) return [];
  return withAdmin(config, async (admin) => {
    const ends = new Map<string, Map<number, number>>();
    const lag = new Map<string, number>();
    for (const o of offs) {
      if (!ends.has(o.topic)) ends.set(o.topic, new Map((await admin.fetchTopicOffsets(o.topic).catch(() => [])).map((p) => [p.partition, Number(p.high)])));
      const end = ends.get(o.topic)!.get(o.partition) ?? 0;
      const group = o.group_id.slice(config.namespace.length);
      lag.set(group, (lag.get(group) ?? 0) + Math.max(0, end - Number(o.next_offset)));
    }
    return [...lag].map(([group, n]) => ({ group, lag: n })).sort((a, b) => a.group.localeCompare(b.group));
  });
}

/** Dead-letter counts: events on every `*.dlq` topic of this namespace (log end minus start). */
export async function dlqCounts(config: Config) {
  return withAdmin(config, async (admin) => {
    const names = (await admin.listTopics()).filter((t) => t.startsWith(ns(config, 'dbb.')) && t.endsWith(DLQ_SUFFIX)).sort();
    const out: { topic: string; events: number }[] = [];
    for (const t of names) {
      const offs = await admin.fetchTopicOffsets(t);
      out.push({ topic: baseTopic(config, t), events: offs.reduce((s, o) => s + Number(o.high) - Number(o.low), 0) });
    }
    return out;
  });
}

/** The last `limit` records of one DLQ topic per partition, with their error headers (original bytes
 *  summarised); null when the topic does not exist. */
export async function lastDeadLetters(config: Config, topic: string, limit: number, timeoutMs = 20_000) {
  const full = ns(config, topic);
  const kafka = createKafka(config, quiet(), 'dbb-inspect-dlq');
  const admin = kafka.admin();
  await admin.connect();
  const groupId = ns(config, `dbb.inspect.dlq.${randomUUID()}`);
  const letters: DeadLetter[] = [];
  try {
    if (!(await admin.listTopics()).includes(full)) return null;
    const offs = await admin.fetchTopicOffsets(full);
    const want = offs.filter((o) => Number(o.high) > Number(o.low)).map((o) => ({ partition: o.partition, from: Math.max(Number(o.low), Number(o.high) - limit), high: Number(o.high) }));
    if (!want.length) return letters;
    const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 200 });
    await consumer.connect();
    try {
      await consumer.subscribe({ topics: [full], fromBeginning: true });
      const remaining = new Map(want.map((w) => [w.partition, w.high - w.from]));
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, timeoutMs);
        const done = () => { if ([...remaining.values()].every((n) => n <= 0)) { clearTimeout(timer); resolve(); } };
        void consumer.run({
          autoCommit: false,
          eachMessage: async ({ partition, message }) => {
            const w = want.find((x) => x.partition === partition);
            if (!w || Number(message.offset) < w.from) return;
            letters.push({
              partition, offset: message.offset, timestamp: new Date(Number(message.timestamp)).toISOString(), key: message.key?.toString() ?? null,
              headers: Object.fromEntries(Object.entries(message.headers ?? {}).map(([k, v]) => [k, String(v).slice(0, 2000)])), bytes: message.value?.length ?? 0,
            });
            remaining.set(partition, (remaining.get(partition) ?? 0) - 1);
            done();
          },
        });
        for (const w of want) consumer.seek({ topic: full, partition: w.partition, offset: String(w.from) });
      });
    } finally {
      await consumer.disconnect().catch(() => {});
      await admin.deleteGroups([groupId]).catch(() => {});
    }
  } finally {
    await admin.disconnect();
  }
  return letters.sort((a, b) => b.timestamp.localeCompare(a.timestamp)).slice(0, limit);
}

/** Replays in progress: each `<schema>__shadow` holds the replay's stored offsets; compared with the log end now. */
export async function replayProgress(deps: InspectDeps) {
  const { rows } = await deps.db.query<{ nspname: string }>(`SELECT n.nspname FROM pg_namespace n JOIN pg_class c ON c.relnamespace = n.oid
    WHERE n.nspname LIKE '%\\_\\_shadow' AND c.relname = 'consumer_offsets' ORDER BY 1`);
  if (!rows.length) return [];
  return withAdmin(deps.config, async (admin) => {
    const out = [];
    for (const { nspname } of rows) {
      const offs = await deps.db.query<{ topic: string; partition: number; next_offset: string }>(`SELECT topic, partition, next_offset FROM ${quoteIdent(nspname)}.consumer_offsets`);
      let done = 0;
      let total = 0;
      const ends = new Map<string, Map<number, number>>();
      // total: every partition of the replayed topics (a partition not assigned yet counts as 0 done)
      for (const o of offs.rows) {
        if (!ends.has(o.topic)) {
          const highs = new Map((await admin.fetchTopicOffsets(o.topic)).map((p) => [p.partition, Number(p.high)]));
          ends.set(o.topic, highs);
          for (const h of highs.values()) total += h;
        }
        done += Math.min(Number(o.next_offset), ends.get(o.topic)!.get(o.partition) ?? 0);
      }
      out.push({ projection: nspname.replace(/__shadow$/, '').replace(/^projection_/, ''), schema: nspname, done, total });
    }
    return out;
  });
}

// Read-only looks at the log for the CLI: topics, tail, consumer lag.
import { createKafka, baseTopic } from '../platform/kafka.ts';
import { loadCatalog } from '../platform/catalog.ts';
import { Serde } from '../platform/registry.ts';
import { ns, type Config } from '../platform/config.ts';
import { createLogger } from '../platform/log.ts';

const quiet = () => createLogger({ level: process.env.LOG_LEVEL ?? 'error', to: 'stderr' });

async function withAdmin<T>(config: Config, fn: (admin: ReturnType<ReturnType<typeof createKafka>['admin']>) => Promise<T>): Promise<T> {
  const admin = createKafka(config, quiet(), 'dbb-cli').admin();
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

/** Lag per consumer group of this namespace: log end minus the group's committed offsets. */
export async function consumerLag(config: Config) {
  return withAdmin(config, async (admin) => {
    const { groups } = await admin.listGroups();
    const mine = groups.map((g) => g.groupId).filter((g) => g.startsWith(ns(config, 'dbb.')) && !g.includes('.gateway.replies.') && !g.includes('.replay.')).sort();
    const out: { group: string; lag: number }[] = [];
    for (const group of mine) {
      let lag = 0;
      for (const t of await admin.fetchOffsets({ groupId: group })) {
        const ends = new Map((await admin.fetchTopicOffsets(t.topic)).map((o) => [o.partition, Number(o.high)]));
        for (const p of t.partitions) lag += Math.max(0, (ends.get(p.partition) ?? 0) - Math.max(0, Number(p.offset)));
      }
      out.push({ group: group.slice(config.namespace.length), lag });
    }
    return out;
  });
}

export async function tailTopic(config: Config, topic: string, opts: { fromBeginning: boolean; max?: number }) {
  const serde = new Serde(loadCatalog(), config);
  const kafka = createKafka(config, quiet(), 'dbb-tail');
  const consumer = kafka.consumer({ groupId: ns(config, `dbb.cli.tail.${process.pid}.${Date.now()}`), maxWaitTimeInMs: 200 });
  await consumer.connect();
  await consumer.subscribe({ topics: [ns(config, topic)], fromBeginning: opts.fromBeginning });
  let n = 0;
  await new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    void consumer.run({
      eachMessage: async ({ partition, message }) => {
        try {
          const d = await serde.decode(message.value);
          console.log(JSON.stringify({ partition, offset: message.offset, key: message.key?.toString(), type: d.entry.name, value: d.value },
            (_k, v) => (v && v.type === 'Buffer' && Array.isArray(v.data) ? `<${v.data.length} bytes>` : v)));
        } catch (err) {
          console.log(JSON.stringify({ partition, offset: message.offset, undecodable: (err as Error).message, headers: Object.fromEntries(Object.entries(message.headers ?? {}).map(([k, v]) => [k, String(v)])) }));
        }
        if (opts.max && ++n >= opts.max) resolve();
      },
    });
  });
  await consumer.disconnect();
}

// Kafka client and topics. Every catalog topic has a `.dlq` companion; names carry the config namespace.
import { Kafka, logLevel, type Admin, type ITopicConfig } from 'kafkajs';
import type { Logger } from 'pino';
import { ns, type Config } from './config.ts';
import type { Catalog } from './catalog.ts';
import pRetry from 'p-retry';

export const DLQ_SUFFIX = '.dlq';
export const DEFAULT_PARTITIONS = 3;

export function createKafka(config: Pick<Config, 'kafkaBrokers'>, log: Logger, clientId = 'dbb'): Kafka {
  const kl = log.child({ component: 'kafkajs' });
  return new Kafka({
    clientId,
    brokers: config.kafkaBrokers,
    retry: { initialRetryTime: 100, retries: 10 },
    logLevel: logLevel.WARN,
    logCreator: () => ({ level, log: entry }) => {
      const { message, ...rest } = entry;
      // kafkajs reports every retried connection at ERROR; the runtime decides what is an error.
      if (level <= logLevel.ERROR) kl.warn(rest, message);
      else kl.info(rest, message);
    },
  });
}

/** Creates missing topics (each base topic and its .dlq); existing topics are left as they are. */
export async function ensureTopics(admin: Admin, config: Pick<Config, 'namespace'>, topics: { topic: string; partitions?: number; configs?: Record<string, string> }[]): Promise<string[]> {
  const existing = new Set(await admin.listTopics());
  const wanted: ITopicConfig[] = [];
  for (const { topic: base, partitions, configs } of topics) {
    for (const name of [ns(config, base), ns(config, base + DLQ_SUFFIX)]) {
      const configEntries = Object.entries(name.endsWith(DLQ_SUFFIX) ? { 'retention.ms': '-1' } : configs ?? {}).map(([n, value]) => ({ name: n, value }));
      if (!existing.has(name)) wanted.push({ topic: name, numPartitions: partitions ?? DEFAULT_PARTITIONS, replicationFactor: 1, configEntries });
    }
  }
  if (wanted.length) await admin.createTopics({ topics: wanted, waitForLeaders: true });
  return wanted.map((t) => t.topic);
}

/** Creates the catalog's topics; retried, since a broker busy creating other stacks' topics answers with retriable errors. */
export async function ensureCatalogTopics(kafka: Kafka, config: Pick<Config, 'namespace'>, catalog: Catalog, extra: string[] = []) {
  const topics = [...catalog.topics().map((t) => ({ topic: t, partitions: catalog.partitionsOf(t), configs: catalog.topicConfigOf(t) })), ...extra.map((t) => ({ topic: t }))];
  return pRetry(async () => {
    const admin = kafka.admin();
    await admin.connect();
    try {
      const created = await ensureTopics(admin, config, topics);
      // a loaded controller can answer for a new topic's metadata a while after createTopics returns;
      // clients that subscribe before then fail with "does not host this topic-partition"
      if (created.length) await admin.fetchTopicMetadata({ topics: created });
      return created;
    } finally {
      await admin.disconnect();
    }
  }, { retries: 12, minTimeout: 200, maxTimeout: 3000, shouldRetry: ({ error }) => (error as { retriable?: boolean }).retriable !== false });
}

/** Strips the namespace prefix: t1.dbb.gw.datastore → dbb.gw.datastore. */
export const baseTopic = (config: Pick<Config, 'namespace'>, topic: string) =>
  config.namespace && topic.startsWith(config.namespace) ? topic.slice(config.namespace.length) : topic;

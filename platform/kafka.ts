// Kafka client and topics. Every catalog topic has a `.dlq` companion; names carry the config namespace.
// Partitions, replication factor and min.insync.replicas come from config; 0 = derived from the cluster size.
import { readFileSync } from 'node:fs';
import { Kafka, logLevel, type Admin, type ITopicConfig, type KafkaConfig, type SASLOptions } from 'kafkajs';
import type { Logger } from 'pino';
import { ns, type Config } from './config.ts';
import type { Catalog } from './catalog.ts';
import pRetry from 'p-retry';
import { REPLY_PARTITIONS, REPLY_RETENTION_MS, REPLY_TOPIC } from './reply-route.ts';

export const DLQ_SUFFIX = '.dlq';
export const DEFAULT_PARTITIONS = 3;

export type KafkaSecurity = Pick<Config, 'kafkaSaslMechanism' | 'kafkaSaslUsername' | 'kafkaSaslPassword' | 'kafkaSsl' | 'kafkaSslCaFile'>;
export type TopicSizing = Pick<Config, 'kafkaPartitions' | 'kafkaReplicationFactor' | 'kafkaMinInsyncReplicas'>;

/** kafkajs `ssl` and `sasl` options from config (nothing when neither is configured). */
export function kafkaSecurity(config: Partial<KafkaSecurity>): Pick<KafkaConfig, 'ssl' | 'sasl'> {
  const out: Pick<KafkaConfig, 'ssl' | 'sasl'> = {};
  if (config.kafkaSsl) out.ssl = config.kafkaSslCaFile ? { ca: [readFileSync(config.kafkaSslCaFile, 'utf8')] } : true;
  if (config.kafkaSaslMechanism) {
    if (!config.kafkaSaslUsername || !config.kafkaSaslPassword) throw new Error('KAFKA_SASL_MECHANISM is set but KAFKA_SASL_USERNAME or KAFKA_SASL_PASSWORD(_FILE) is empty');
    out.sasl = { mechanism: config.kafkaSaslMechanism, username: config.kafkaSaslUsername, password: config.kafkaSaslPassword } as SASLOptions;
  }
  return out;
}

/** RF = min(3, brokers), min ISR = RF − 1 (at least 1), unless config names them. */
export function topicSizing(config: Partial<TopicSizing>, brokers: number): { partitions: number; replicationFactor: number; minInsyncReplicas: number } {
  const replicationFactor = config.kafkaReplicationFactor || Math.max(1, Math.min(3, brokers));
  const minInsyncReplicas = config.kafkaMinInsyncReplicas || Math.max(1, replicationFactor - 1);
  if (replicationFactor > brokers) throw new Error(`KAFKA_REPLICATION_FACTOR ${replicationFactor} exceeds the ${brokers} broker(s) of the cluster`);
  if (minInsyncReplicas > replicationFactor) throw new Error(`KAFKA_MIN_INSYNC_REPLICAS ${minInsyncReplicas} exceeds the replication factor ${replicationFactor}`);
  return { partitions: config.kafkaPartitions || DEFAULT_PARTITIONS, replicationFactor, minInsyncReplicas };
}

export function createKafka(config: Pick<Config, 'kafkaBrokers'> & Partial<KafkaSecurity>, log: Logger, clientId = 'dbb'): Kafka {
  const kl = log.child({ component: 'kafkajs' });
  return new Kafka({
    clientId,
    brokers: config.kafkaBrokers,
    ...kafkaSecurity(config),
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
export async function ensureTopics(admin: Admin, config: Pick<Config, 'namespace'> & Partial<TopicSizing>, topics: { topic: string; partitions?: number; configs?: Record<string, string>; noDlq?: boolean }[]): Promise<string[]> {
  const existing = new Set(await admin.listTopics());
  const wanted: ITopicConfig[] = [];
  const names = topics.flatMap((t) => (t.noDlq ? [ns(config, t.topic)] : [ns(config, t.topic), ns(config, t.topic + DLQ_SUFFIX)]));
  if (names.every((n) => existing.has(n))) return [];
  const sizing = topicSizing(config, (await admin.describeCluster()).brokers.length);
  for (const { topic: base, partitions, configs, noDlq } of topics) {
    for (const name of noDlq ? [ns(config, base)] : [ns(config, base), ns(config, base + DLQ_SUFFIX)]) {
      const own = name.endsWith(DLQ_SUFFIX) ? { 'retention.ms': '-1' } : configs ?? {};
      const configEntries = Object.entries({ 'min.insync.replicas': String(sizing.minInsyncReplicas), ...own }).map(([n, value]) => ({ name: n, value }));
      if (!existing.has(name)) wanted.push({ topic: name, numPartitions: partitions ?? sizing.partitions, replicationFactor: sizing.replicationFactor, configEntries });
    }
  }
  if (wanted.length) await admin.createTopics({ topics: wanted, waitForLeaders: true });
  return wanted.map((t) => t.topic);
}

/** Creates the catalog's topics; retried, since a broker busy creating other stacks' topics answers with retriable errors. */
export async function ensureCatalogTopics(kafka: Kafka, config: Pick<Config, 'namespace'> & Partial<TopicSizing>, catalog: Catalog, extra: string[] = []) {
  const topics = [
    ...catalog.topics().map((t) => ({ topic: t, partitions: catalog.partitionsOf(t), configs: catalog.topicConfigOf(t) })),
    ...extra.map((t) => ({ topic: t })),
    { topic: REPLY_TOPIC, partitions: REPLY_PARTITIONS, configs: { 'retention.ms': String(REPLY_RETENTION_MS) }, noDlq: true },
  ];
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

// Assembles the shared parts one process needs (Kafka, Postgres, registry serde, producer, outbox
// relay) and starts consumers on them. Used by `dbb up`, `dbb run ...` and the test stack.
import type { Kafka } from 'kafkajs';
import type { Logger } from 'pino';
import { loadCatalog, type Catalog } from './catalog.ts';
import { ns, type Config, type Env } from './config.ts';
import { REPLY_TOPIC } from './reply-route.ts';
import { createPool, migratePlatform, type Db } from './db.ts';
import { createKafka, ensureCatalogTopics } from './kafka.ts';
import { Serde } from './registry.ts';
import { BatchingProducer, createAppender } from './producer.ts';
import { startOutboxRelay, type OutboxRelay } from './outbox.ts';
import { startConsumer, type RunningConsumer, type RunOptions } from './consumer-runtime.ts';
import type { Appender, ConsumerSpec, DomainDeps } from './types.ts';

/** A long-running edge part beside the consumers (an adapter of an external feed, a ticker), started
 *  by `dbb up` and `dbb run workers`. */
export interface ServiceSpec {
  name: string;
  start(platform: Platform): Promise<{ stop(): Promise<void> }>;
}

export interface Platform {
  config: Config;
  env: Env;
  log: Logger;
  catalog: Catalog;
  kafka: Kafka;
  db: Db;
  serde: Serde;
  producer: BatchingProducer;
  appender: Appender;
  relay: OutboxRelay | null;
  consumers: RunningConsumer[];
  domainDeps: DomainDeps;
  startConsumer(spec: ConsumerSpec, opts?: RunOptions): Promise<RunningConsumer>;
  close(): Promise<void>;
}

export async function startPlatform(config: Config, opts: { env?: Env; log: Logger; source: string; relay?: boolean; extraTopics?: string[] }): Promise<Platform> {
  const { log } = opts;
  const catalog = config.testSchemas ? loadCatalog() : loadCatalog().withoutTestDomains();
  const kafka = createKafka(config, log, opts.source);
  const db = createPool(config.databaseUrl, config.dbPoolSize);
  const marksDb = createPool(config.databaseUrl, 2);
  const serde = new Serde(catalog, config);
  await serde.registerAll();
  await migratePlatform(config.databaseUrl, log);
  await ensureCatalogTopics(kafka, config, catalog, opts.extraTopics);
  const producer = new BatchingProducer(kafka, { replyTopic: ns(config, REPLY_TOPIC) });
  await producer.connect();
  const appender = createAppender({ producer, serde, config, source: opts.source });
  const relay = opts.relay === false ? null : startOutboxRelay({ databaseUrl: config.databaseUrl, db, producer, log });
  const consumers: RunningConsumer[] = [];
  const env = opts.env ?? process.env;

  const platform: Platform = {
    config, env, log, catalog, kafka, db, serde, producer, appender, relay, consumers,
    domainDeps: { config, env, log },
    async startConsumer(spec, runOpts) {
      const c = await startConsumer(spec, { config, kafka, db, marksDb, serde, log }, runOpts);
      consumers.push(c);
      return c;
    },
    async close() {
      for (const c of consumers.splice(0).reverse()) await c.stop().catch((err) => log.warn({ err, consumer: c.name }, 'stop failed'));
      await relay?.stop();
      await producer.disconnect();
      await db.end();
      await marksDb.end();
    },
  };
  return platform;
}

// The native Kafka broker: single-node KRaft (broker + controller in one JVM) on 127.0.0.1,
// configured for a dev/test box (replication factor 1, no rebalance delay, no auto-created topics).
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { fetchArtifacts, libDir } from './maven.ts';

export const KAFKA_VERSION = '4.4.0';
export const KAFKA_HOST = '127.0.0.1';
// DBB_KAFKA_PORT moves the broker (controller = port + 1), e.g. for a second stack beside the dev one
export const KAFKA_PORT = Number(process.env.DBB_KAFKA_PORT ?? 9092);
export const CONTROLLER_PORT = KAFKA_PORT + 1;
export const KAFKA_BROKER = `${KAFKA_HOST}:${KAFKA_PORT}`;
const OFFSETS_PARTITIONS = 10;
const TXN_PARTITIONS = 10;
export const KAFKA_HEAP = process.env.DBB_KAFKA_HEAP ?? '1g';

export function javaBin(): string {
  return process.env.JAVA_HOME ? join(process.env.JAVA_HOME, 'bin', 'java') : 'java';
}

/** Classpath (a Java wildcard) with the broker, clients and kafka-tools (e.g. ProducerPerformance). */
export function kafkaClasspath(stateDir: string): string {
  return join(libDir(stateDir, 'kafka'), '*');
}

export function serverProperties(stateDir: string): string {
  const props: Record<string, string | number> = {
    'process.roles': 'broker,controller',
    'node.id': 1,
    'controller.quorum.voters': `1@${KAFKA_HOST}:${CONTROLLER_PORT}`,
    listeners: `PLAINTEXT://${KAFKA_HOST}:${KAFKA_PORT},CONTROLLER://${KAFKA_HOST}:${CONTROLLER_PORT}`,
    'advertised.listeners': `PLAINTEXT://${KAFKA_HOST}:${KAFKA_PORT}`,
    'controller.listener.names': 'CONTROLLER',
    'listener.security.protocol.map': 'PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
    'inter.broker.listener.name': 'PLAINTEXT',
    'log.dirs': join(stateDir, 'kafka'),
    // single node
    'offsets.topic.replication.factor': 1,
    'offsets.topic.num.partitions': OFFSETS_PARTITIONS,
    'transaction.state.log.replication.factor': 1,
    'transaction.state.log.min.isr': 1,
    'transaction.state.log.num.partitions': TXN_PARTITIONS,
    'share.coordinator.state.topic.replication.factor': 1,
    'share.coordinator.state.topic.min.isr': 1,
    'default.replication.factor': 1,
    'min.insync.replicas': 1,
    // fast tests
    'group.initial.rebalance.delay.ms': 0,
    'group.min.session.timeout.ms': 1000,
    'auto.create.topics.enable': 'false',
    'num.partitions': 3,
    'delete.topic.enable': 'true',
    // big HDF5 chunks travel as records
    'message.max.bytes': 10 * 1024 * 1024 + 1024,
    'replica.fetch.max.bytes': 10 * 1024 * 1024 + 1024,
    // a small box
    'num.network.threads': 2,
    'num.io.threads': 4,
    'num.recovery.threads.per.data.dir': 2,
    'log.cleaner.dedupe.buffer.size': 16 * 1024 * 1024,
    'log.retention.hours': 168,
  };
  return Object.entries(props).map(([k, v]) => `${k}=${v}`).join('\n') + '\n';
}

export const LOG4J2 = `# written by infra/kafka.ts
status = warn
appender.out.type = Console
appender.out.name = OUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = OUT
logger.state.name = state.change.logger
logger.state.level = WARN
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.authorizer.name = kafka.authorizer.logger
logger.authorizer.level = WARN
logger.clients.name = org.apache.kafka.clients
logger.clients.level = WARN
# per-partition chatter (tests create many topics)
logger.storage.name = org.apache.kafka.storage.internals.log
logger.storage.level = WARN
logger.partition.name = kafka.cluster.Partition
logger.partition.level = WARN
logger.replica.name = kafka.server.ReplicaManager
logger.replica.level = WARN
logger.config.name = org.apache.kafka.common.config.AbstractConfig
logger.config.level = WARN
`;

/** A KRaft cluster id: 16 random bytes, base64url. Never starting with '-', as Kafka's own Uuid.randomUuid
 *  ensures: the storage tool would read such an id as an option ("--cluster-id: expected one argument"). */
export function newClusterId(): string {
  for (;;) {
    const id = randomBytes(16).toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}

export function run(cmd: string, args: string[]): Promise<{ code: number; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 1, output }));
  });
}

/** JVM flags of a broker; `-Ddbb.stateDir=` marks the process as the one this state dir started. */
export function brokerJvmArgs(stateDir: string, heap: string): string[] {
  return [
    '-Xms256m', `-Xmx${heap}`, '-XX:+UseG1GC', '-XX:MaxGCPauseMillis=20', '-XX:InitiatingHeapOccupancyPercent=35',
    '-XX:+ExplicitGCInvokesConcurrent', '-XX:+ExitOnOutOfMemoryError', '-Djava.awt.headless=true',
    `-Dkafka.logs.dir=${join(stateDir, 'logs')}`, `-Ddbb.stateDir=${stateDir}`,
  ];
}

/** Fetches jars, writes config, formats the storage once. Returns the java command line. */
export async function prepareKafka(stateDir: string, log: (msg: string) => void): Promise<{ cmd: string; args: string[] }> {
  await fetchArtifacts(stateDir, 'kafka', log);
  const confDir = join(stateDir, 'conf');
  mkdirSync(confDir, { recursive: true });
  const props = join(confDir, 'kafka-server.properties');
  const log4j = join(confDir, 'kafka-log4j2.properties');
  writeFileSync(props, serverProperties(stateDir));
  writeFileSync(log4j, LOG4J2);
  const cp = kafkaClasspath(stateDir);
  const common = [`-Dlog4j2.configurationFile=${log4j}`, '-cp', cp];
  const dataDir = join(stateDir, 'kafka');
  if (!existsSync(join(dataDir, 'meta.properties'))) {
    mkdirSync(dataDir, { recursive: true });
    const clusterId = newClusterId();
    log(`kafka: formatting storage in ${dataDir} (cluster ${clusterId})`);
    const r = await run(javaBin(), [...common, 'kafka.tools.StorageTool', 'format', '-t', clusterId, '-c', props, '--ignore-formatted']);
    if (r.code !== 0) throw new Error(`kafka storage format failed (exit ${r.code}):\n${r.output.split('\n').slice(-30).join('\n')}`);
  }
  const jvm = brokerJvmArgs(stateDir, KAFKA_HEAP);
  // AppCDS: the first run dumps the loaded classes when the broker stops; later starts map them
  // (a stale or mismatched archive is ignored by the JVM)
  const jsa = `${libDir(stateDir, 'kafka')}.jsa`;
  const quiet = ['-Xlog:cds=off', '-Xlog:cds+dynamic=off'];
  const cds = process.env.DBB_KAFKA_CDS === '0' ? [] : existsSync(jsa) ? [`-XX:SharedArchiveFile=${jsa}`, '-Xshare:auto', ...quiet] : [`-XX:ArchiveClassesAtExit=${jsa}`, ...quiet];
  return { cmd: javaBin(), args: [...jvm, ...cds, ...common, 'kafka.Kafka', props] };
}

const client = (brokers: string[]) =>
  new Kafka({ clientId: 'dbb-infra', brokers, logLevel: logLevel.NOTHING, connectionTimeout: 1000, requestTimeout: 5000, retry: { retries: 0 } });

/** True when a broker answers a metadata request (describeCluster). */
export async function kafkaAnswers(brokers: string[] = [KAFKA_BROKER]): Promise<boolean> {
  const admin = client(brokers).admin();
  try {
    await admin.connect();
    const c = await admin.describeCluster();
    return c.brokers.length > 0;
  } catch {
    return false;
  } finally {
    await admin.disconnect().catch(() => {});
  }
}

/** Java's String.hashCode, for Kafka's coordinator partition choice (abs(hash) % partitions). */
function javaHash(s: string): number {
  let h = 0;
  for (let i = 0; i < s.length; i++) h = (Math.imul(31, h) + s.charCodeAt(i)) | 0;
  return h === -2147483648 ? 0 : Math.abs(h);
}

/** One id per coordinator partition, so touching each id loads every partition. */
function idsCoveringPartitions(prefix: string, partitions: number): string[] {
  const out = new Map<number, string>();
  for (let i = 0; out.size < partitions; i++) {
    const id = `${prefix}-${i}`;
    const p = javaHash(id) % partitions;
    if (!out.has(p)) out.set(p, id);
  }
  return [...out.values()];
}

/**
 * Creates and loads the internal topics (__consumer_offsets, __transaction_state) up front, so the
 * first consumer group or transactional producer of a test does not wait for "coordinator loading".
 */
export async function warmUpKafka(brokers: string[] = [KAFKA_BROKER]): Promise<void> {
  const kafka = new Kafka({ clientId: 'dbb-infra-warmup', brokers, logLevel: logLevel.NOTHING, retry: { retries: 30, initialRetryTime: 100, maxRetryTime: 1000 } });
  const admin = kafka.admin();
  try {
    await admin.connect();
    await admin.describeGroups(idsCoveringPartitions('dbb-infra-warmup-group', OFFSETS_PARTITIONS));
    // InitProducerId finds (and creates) the transaction coordinator of each partition
    await Promise.all(
      idsCoveringPartitions('dbb-infra-warmup-tx', TXN_PARTITIONS).map(async (transactionalId) => {
        const producer = kafka.producer({ transactionalId, idempotent: true, maxInFlightRequests: 1 });
        try {
          await producer.connect();
        } finally {
          await producer.disconnect().catch(() => {});
        }
      }),
    );
  } finally {
    await admin.disconnect().catch(() => {});
  }
}

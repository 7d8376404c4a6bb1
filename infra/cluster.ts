// A multi-broker KRaft cluster on this machine: N JVMs from the same Maven jars, each a combined
// broker + controller with its own data dir, ports and pid file under <stateDir>/node-<id>/. Topics
// default to RF min(3, N), min ISR RF − 1. With `scram`, clients and brokers authenticate with
// SCRAM-SHA-512 (credentials bootstrapped by `kafka-storage format --add-scram`).
// Never touches the single-broker dev stack (its own state dir and ports).
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Kafka, logLevel, type SASLOptions } from 'kafkajs';
import { brokerJvmArgs, javaBin, kafkaClasspath, KAFKA_HOST, LOG4J2, newClusterId, run } from './kafka.ts';
import { fetchArtifacts, isFetched, libDir } from './maven.ts';
import { cmdlineOf, isAlive, logFile, pidFile, portOpen, readPid, removeFile, spawnDetached, terminate, waitUntil, writePid } from './proc.ts';

export const SCRAM_MECHANISM = 'SCRAM-SHA-512';
const START_TIMEOUT_MS = 180_000;

export interface ClusterSpec {
  clusterId: string;
  brokers: number;
  /** broker i (1-based) listens for clients on basePort + 2(i−1), its controller on the port after */
  basePort: number;
  scram: { username: string } | null;
  heap: string;
}

export interface ClusterNode { id: number; port: number; controllerPort: number; dir: string }

type Log = (msg: string) => void;

/** The cluster kept in `stateDir` (cluster.json, created on first start; the SCRAM password in scram.secret, mode 600). */
export class KafkaCluster {
  readonly stateDir: string;
  readonly spec: ClusterSpec;

  constructor(stateDir: string, opts: { brokers?: number; basePort?: number; scram?: boolean; heap?: string } = {}) {
    this.stateDir = resolve(stateDir);
    const file = join(this.stateDir, 'cluster.json');
    if (existsSync(file)) {
      this.spec = JSON.parse(readFileSync(file, 'utf8'));
      if (opts.brokers && opts.brokers !== this.spec.brokers) throw new Error(`${this.stateDir} holds a ${this.spec.brokers}-broker cluster, not ${opts.brokers}`);
    } else {
      this.spec = {
        clusterId: newClusterId(),
        brokers: opts.brokers ?? 3,
        basePort: opts.basePort ?? 9192,
        scram: opts.scram ? { username: 'dbb' } : null,
        heap: opts.heap ?? '512m',
      };
      mkdirSync(this.stateDir, { recursive: true });
      writeFileSync(file, JSON.stringify(this.spec, null, 2) + '\n');
      if (opts.scram) writeFileSync(this.secretFile, randomBytes(18).toString('base64url') + '\n', { mode: 0o600 });
    }
  }

  get nodes(): ClusterNode[] {
    return Array.from({ length: this.spec.brokers }, (_, i) => ({
      id: i + 1, port: this.spec.basePort + 2 * i, controllerPort: this.spec.basePort + 2 * i + 1, dir: join(this.stateDir, `node-${i + 1}`),
    }));
  }

  get bootstrap(): string[] { return this.nodes.map((n) => `${KAFKA_HOST}:${n.port}`); }
  get secretFile(): string { return join(this.stateDir, 'scram.secret'); }
  private password(): string { return readFileSync(this.secretFile, 'utf8').trim(); }

  /** kafkajs sasl options for clients of this cluster (none without SCRAM). */
  sasl(): SASLOptions | undefined {
    return this.spec.scram ? { mechanism: 'scram-sha-512', username: this.spec.scram.username, password: this.password() } : undefined;
  }

  /** The environment a dbb process needs to use this cluster (the password as a file, never inline). */
  clientEnv(): Record<string, string> {
    return {
      KAFKA_BROKERS: this.bootstrap.join(','),
      ...(this.spec.scram ? { KAFKA_SASL_MECHANISM: 'scram-sha-512', KAFKA_SASL_USERNAME: this.spec.scram.username, KAFKA_SASL_PASSWORD_FILE: this.secretFile } : {}),
    };
  }

  properties(node: ClusterNode): string {
    const rf = Math.min(3, this.spec.brokers);
    const isr = Math.max(1, rf - 1);
    const scram = this.spec.scram;
    const listener = scram ? 'SASL_PLAINTEXT' : 'PLAINTEXT';
    const props: Record<string, string | number> = {
      'process.roles': 'broker,controller',
      'node.id': node.id,
      'controller.quorum.voters': this.nodes.map((n) => `${n.id}@${KAFKA_HOST}:${n.controllerPort}`).join(','),
      listeners: `${listener}://${KAFKA_HOST}:${node.port},CONTROLLER://${KAFKA_HOST}:${node.controllerPort}`,
      'advertised.listeners': `${listener}://${KAFKA_HOST}:${node.port}`,
      'controller.listener.names': 'CONTROLLER',
      'listener.security.protocol.map': `${listener}:${listener},CONTROLLER:PLAINTEXT`,
      'inter.broker.listener.name': listener,
      'log.dirs': join(node.dir, 'kafka'),
      'offsets.topic.replication.factor': rf,
      'offsets.topic.num.partitions': 10,
      'transaction.state.log.replication.factor': rf,
      'transaction.state.log.min.isr': isr,
      'transaction.state.log.num.partitions': 10,
      'share.coordinator.state.topic.replication.factor': rf,
      'share.coordinator.state.topic.min.isr': isr,
      'default.replication.factor': rf,
      'min.insync.replicas': isr,
      'unclean.leader.election.enable': 'false',
      'group.initial.rebalance.delay.ms': 0,
      'group.min.session.timeout.ms': 1000,
      'auto.create.topics.enable': 'false',
      'num.partitions': 3,
      'message.max.bytes': 10 * 1024 * 1024 + 1024,
      'replica.fetch.max.bytes': 10 * 1024 * 1024 + 1024,
      // a restarted broker is back in the ISR quickly, and a dead follower leaves it after 10 s
      'replica.lag.time.max.ms': 10_000,
      'num.network.threads': 2,
      'num.io.threads': 2,
      'num.recovery.threads.per.data.dir': 1,
      'background.threads': 2,
      'log.cleaner.threads': 1,
      'log.cleaner.dedupe.buffer.size': 8 * 1024 * 1024,
      'log.retention.hours': 24,
    };
    if (scram) {
      props['sasl.enabled.mechanisms'] = SCRAM_MECHANISM;
      props['sasl.mechanism.inter.broker.protocol'] = SCRAM_MECHANISM;
      props[`listener.name.${listener.toLowerCase()}.${SCRAM_MECHANISM.toLowerCase()}.sasl.jaas.config`] =
        `org.apache.kafka.common.security.scram.ScramLoginModule required username="${scram.username}" password="${this.password()}";`;
    }
    return Object.entries(props).map(([k, v]) => `${k}=${v}`).join('\n') + '\n';
  }

  /** Jars: linked from the dev stack's state dir when fetched there, fetched otherwise. */
  private async jars(log: Log): Promise<void> {
    if (isFetched(this.stateDir, 'kafka')) return;
    const shared = process.env.DBB_STATE_DIR ?? join(process.cwd(), '.dbb');
    if (resolve(shared) !== this.stateDir && isFetched(shared, 'kafka')) {
      mkdirSync(join(this.stateDir, 'lib'), { recursive: true });
      symlinkSync(libDir(shared, 'kafka'), libDir(this.stateDir, 'kafka'));
      return;
    }
    await fetchArtifacts(this.stateDir, 'kafka', log);
  }

  /** Writes config (mode 600: it holds the inter-broker SCRAM password) and formats the node's storage once. */
  private async prepare(node: ClusterNode, log: Log): Promise<{ cmd: string; args: string[] }> {
    const conf = join(node.dir, 'conf');
    mkdirSync(conf, { recursive: true });
    const props = join(conf, 'server.properties');
    const log4j = join(conf, 'log4j2.properties');
    writeFileSync(props, this.properties(node), { mode: 0o600 });
    chmodSync(props, 0o600);
    writeFileSync(log4j, LOG4J2);
    const common = [`-Dlog4j2.configurationFile=${log4j}`, '-cp', kafkaClasspath(this.stateDir)];
    if (!existsSync(join(node.dir, 'kafka', 'meta.properties'))) {
      mkdirSync(join(node.dir, 'kafka'), { recursive: true });
      log(`kafka cluster: formatting node ${node.id} in ${node.dir}`);
      // the credential is passed in a file-less form only here, to the short-lived format tool
      const scram = this.spec.scram ? ['--add-scram', `${SCRAM_MECHANISM}=[name=${this.spec.scram.username},password=${this.password()}]`] : [];
      const r = await run(javaBin(), [...common, 'kafka.tools.StorageTool', 'format', '-t', this.spec.clusterId, '-c', props, '--ignore-formatted', ...scram]);
      if (r.code !== 0) throw new Error(`kafka storage format of node ${node.id} failed (exit ${r.code}):\n${r.output.split('\n').slice(-30).join('\n')}`);
    }
    return { cmd: javaBin(), args: [...brokerJvmArgs(node.dir, this.spec.heap), ...common, 'kafka.Kafka', props] };
  }

  /** The pid of node `id` if it is alive and ours (its command line carries the node's dir). */
  pidOf(id: number): number | null {
    const node = this.nodes[id - 1];
    const pid = readPid(pidFile(node.dir, 'kafka'));
    if (pid === null || !isAlive(pid) || !cmdlineOf(pid).includes(`-Ddbb.stateDir=${node.dir} `)) return null;
    return pid;
  }

  /** Starts node `id` unless it runs; does not wait for it. */
  async startNode(id: number, log: Log = () => {}): Promise<number> {
    const node = this.nodes[id - 1];
    const running = this.pidOf(id);
    if (running) return running;
    if (await portOpen(KAFKA_HOST, node.port)) throw new Error(`port ${node.port} of node ${id} is taken by another process`);
    await this.jars(log);
    const { cmd, args } = await this.prepare(node, log);
    const pid = spawnDetached(cmd, args, { logFile: logFile(node.dir, 'kafka'), cwd: node.dir });
    writePid(pidFile(node.dir, 'kafka'), pid);
    log(`kafka cluster: node ${node.id} pid ${pid} on ${KAFKA_HOST}:${node.port}`);
    return pid;
  }

  /** Starts every node that is not running and waits until all brokers are registered. */
  async start(log: Log = () => {}): Promise<string[]> {
    const started = this.nodes.map((n) => n.id).filter((id) => !this.pidOf(id));
    await this.jars(log);
    // formats run in parallel: each is a JVM start (seconds on a busy machine)
    await Promise.all(started.map((id) => this.startNode(id, log)));
    await this.waitForBrokers(this.spec.brokers);
    return started.map((id) => `kafka-${id}`);
  }

  /** Waits until `count` brokers answer in the cluster metadata. */
  async waitForBrokers(count: number, timeoutMs = START_TIMEOUT_MS): Promise<void> {
    const ids = this.nodes.map((n) => n.id);
    await waitUntil(`kafka cluster: ${count} brokers`, async () => (await this.liveBrokers()).length >= count, {
      timeoutMs, logFile: logFile(this.nodes[0].dir, 'kafka'), intervalMs: 500,
    }).catch((err) => { throw new Error(`${(err as Error).message}\n${this.nodes.map((n) => this.nodeSummary(n.id)).join('\n')}\n(nodes ${ids.join(', ')}; logs in ${this.stateDir}/node-*/logs)`); });
  }

  /** Whether node `id` runs, and the first ERROR/FATAL lines of its log: why a start failed (the test removes the logs). */
  private nodeSummary(id: number): string {
    const file = logFile(this.nodes[id - 1].dir, 'kafka');
    const errors = existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter((l) => / (ERROR|FATAL) /.test(l)).slice(0, 5) : [];
    return `node ${id}: ${this.pidOf(id) ? 'running' : 'not running'}${errors.length ? `; first errors:\n  ${errors.join('\n  ')}` : ''}`;
  }

  /** Node ids in the cluster metadata (empty when no broker answers). */
  async liveBrokers(): Promise<number[]> {
    const kafka = new Kafka({ clientId: 'dbb-cluster-probe', brokers: this.bootstrap, sasl: this.sasl(), logLevel: logLevel.NOTHING, connectionTimeout: 1000, requestTimeout: 5000, retry: { retries: 0 } });
    const admin = kafka.admin();
    try {
      await admin.connect();
      return (await admin.describeCluster()).brokers.map((b) => b.nodeId).sort();
    } catch {
      return [];
    } finally {
      await admin.disconnect().catch(() => {});
    }
  }

  /** Sends `signal` to node `id` (only if its pid file names a live process of ours) and waits for it to end. */
  async killNode(id: number, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const pid = this.pidOf(id);
    if (!pid) return;
    if (signal === 'SIGKILL') {
      process.kill(pid, 'SIGKILL');
      await waitUntil(`node ${id} exit`, async () => !isAlive(pid), { timeoutMs: 30_000 });
    } else await terminate(pid, 60_000);
    await waitUntil(`node ${id} port closed`, async () => !(await portOpen(KAFKA_HOST, this.nodes[id - 1].port)), { timeoutMs: 30_000 });
    removeFile(pidFile(this.nodes[id - 1].dir, 'kafka'));
  }

  /** Stops every node this state dir started (SIGTERM, SIGKILL after a grace period). */
  async stop(log: Log = () => {}): Promise<string[]> {
    const stopped: string[] = [];
    await Promise.all(this.nodes.map(async (n) => {
      const pid = this.pidOf(n.id);
      if (!pid) return;
      log(`kafka cluster: stopping node ${n.id} (pid ${pid})`);
      await terminate(pid, 30_000);
      removeFile(pidFile(n.dir, 'kafka'));
      stopped.push(`kafka-${n.id}`);
    }));
    return stopped.sort();
  }
}

/** The cluster of `brokers` nodes kept in <stateDir>/cluster-<brokers> (ports from DBB_CLUSTER_PORT, default 9192), or, with a
 *  cluster directory and no count, the cluster already there. */
export function clusterOf(stateDir: string, brokers?: number, scram?: boolean): KafkaCluster {
  if (brokers === undefined) return new KafkaCluster(stateDir);
  return new KafkaCluster(join(stateDir, `cluster-${brokers}`), { brokers, scram, basePort: Number(process.env.DBB_CLUSTER_PORT ?? 9192), heap: process.env.DBB_KAFKA_HEAP ?? '512m' });
}

/** The cluster directories under a state dir. */
export function clusterDirs(stateDir: string): string[] {
  try {
    return readdirSync(stateDir).filter((d) => /^cluster-\d+$/.test(d) && existsSync(join(stateDir, d, 'cluster.json'))).map((d) => join(stateDir, d));
  } catch {
    return [];
  }
}

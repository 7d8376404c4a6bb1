// The native dev/test stack: Kafka (single-node KRaft, jars fetched with Maven) and the schema
// registry, started detached with pid files in <stateDir>/run and logs in <stateDir>/logs.
// ensureStack reuses whatever already answers on the well-known ports.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import pg from 'pg';
import { KAFKA_BROKER, KAFKA_HOST, KAFKA_PORT, kafkaAnswers, prepareKafka, warmUpKafka } from './kafka.ts';
import { INFRA_DIR, fetchArtifacts } from './maven.ts';
import { clusterOf, clusterDirs } from './cluster.ts';
import { stopTapeSim } from './tape-sim.ts';
import { cmdlineOf, isAlive, logFile, pidFile, portOpen, readPid, removeFile, spawnDetached, terminate, waitUntil, withLock, writePid } from './proc.ts';

export { javaBin, kafkaClasspath, KAFKA_VERSION } from './kafka.ts';

export interface StackInfo {
  brokers: string[];
  registryUrl: string; // e.g. http://127.0.0.1:8081/apis/ccompat/v7
  started: string[]; // which parts this call started
  /** what a client needs besides the brokers (SASL settings of a multi-broker cluster) */
  env?: Record<string, string>;
}

export const REGISTRY_HOST = '127.0.0.1';
export const REGISTRY_PORT = Number(process.env.DBB_REGISTRY_PORT ?? 8081);
export const REGISTRY_URL = `http://${REGISTRY_HOST}:${REGISTRY_PORT}/apis/ccompat/v7`;
export const REGISTRY_DB = 'dbb_registry';
export const DEFAULT_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432';

const KAFKA_START_TIMEOUT_MS = 120_000;
const REGISTRY_START_TIMEOUT_MS = 60_000;
const REPO_ROOT = join(INFRA_DIR, '..');

type Log = (msg: string) => void;
const noop: Log = () => {};

/** GET <registry>/subjects answers 200. */
export async function registryAnswers(url = REGISTRY_URL): Promise<boolean> {
  try {
    const res = await fetch(`${url}/subjects`, { signal: AbortSignal.timeout(2000) });
    await res.arrayBuffer();
    return res.status === 200;
  } catch {
    return false;
  }
}

/** The same server as `databaseUrl`, database `name`. */
export function withDatabase(databaseUrl: string, name: string): string {
  const u = new URL(databaseUrl);
  u.pathname = `/${name}`;
  return u.toString();
}

/** CREATE DATABASE if missing (connects to the 'postgres' database of the same server). */
export async function ensureDatabase(databaseUrl: string): Promise<void> {
  const name = decodeURIComponent(new URL(databaseUrl).pathname.replace(/^\//, ''));
  if (!name) throw new Error(`no database name in ${databaseUrl}`);
  const admin = new pg.Client({ connectionString: withDatabase(databaseUrl, 'postgres') });
  await admin.connect();
  try {
    const r = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (r.rowCount) return;
    try {
      await admin.query(`CREATE DATABASE "${name.replace(/"/g, '""')}"`);
    } catch (err) {
      // a concurrent caller created it first
      const code = (err as { code?: string }).code;
      if (code !== '42P04' && code !== '23505') throw err;
    }
  } finally {
    await admin.end();
  }
}

interface Part {
  name: 'kafka' | 'registry';
  url: string;
  answers: () => Promise<boolean>;
  /** what identifies our process in /proc/<pid>/cmdline */
  marker: (stateDir: string) => string;
}

const PARTS: Part[] = [
  { name: 'kafka', url: `kafka://${KAFKA_BROKER}`, answers: () => kafkaAnswers(), marker: (s) => `-Ddbb.stateDir=${s}` },
  { name: 'registry', url: REGISTRY_URL, answers: () => registryAnswers(), marker: () => 'registry/server.' }, // .ts from the sources, .js from the build
];

/** The pid in the part's pid file if that process is alive and still ours. */
function ourPid(stateDir: string, part: Part): number | null {
  const pid = readPid(pidFile(stateDir, part.name));
  if (pid === null) return null;
  if (!isAlive(pid) || !cmdlineOf(pid).includes(part.marker(stateDir))) {
    removeFile(pidFile(stateDir, part.name));
    return null;
  }
  return pid;
}

/** Returns whether this call spawned the process. */
async function startKafka(stateDir: string, log: Log): Promise<boolean> {
  const file = logFile(stateDir, 'kafka');
  let pid: number | undefined = ourPid(stateDir, PARTS[0]) ?? undefined;
  let spawned = false;
  if (pid) {
    log(`kafka: process ${pid} is running but not answering yet; waiting`);
  } else if (await portOpen(KAFKA_HOST, KAFKA_PORT)) {
    log(`kafka: something listens on ${KAFKA_BROKER} but does not answer yet (started elsewhere?); waiting`);
  } else {
    const { cmd, args } = await prepareKafka(stateDir, log);
    pid = spawnDetached(cmd, args, { logFile: file, cwd: stateDir });
    spawned = true;
    writePid(pidFile(stateDir, 'kafka'), pid);
    log(`kafka: started pid ${pid} on ${KAFKA_BROKER} (log ${file})`);
  }
  await waitUntil('kafka did not come up', () => kafkaAnswers(), { timeoutMs: KAFKA_START_TIMEOUT_MS, pid, logFile: file });
  await warmUpKafka();
  return spawned;
}

async function startRegistry(stateDir: string, databaseUrl: string, log: Log): Promise<boolean> {
  const file = logFile(stateDir, 'registry');
  let pid: number | undefined = ourPid(stateDir, PARTS[1]) ?? undefined;
  let spawned = false;
  if (pid) {
    log(`registry: process ${pid} is running but not answering yet; waiting`);
  } else if (await portOpen(REGISTRY_HOST, REGISTRY_PORT)) {
    log(`registry: something listens on ${REGISTRY_HOST}:${REGISTRY_PORT} but does not answer yet (started elsewhere?); waiting`);
  } else {
    const dbUrl = withDatabase(databaseUrl, REGISTRY_DB);
    await ensureDatabase(dbUrl);
    const compiled = join(INFRA_DIR, 'registry', 'server.js'); // running from dist/ (npm run build)
    const args = existsSync(compiled) ? [compiled]
      : ['--import', pathToFileURL(createRequire(join(REPO_ROOT, 'package.json')).resolve('tsx')).href, join(INFRA_DIR, 'registry', 'server.ts')];
    spawned = true;
    pid = spawnDetached(process.execPath, args, {
      logFile: file,
      cwd: REPO_ROOT,
      env: { ...process.env, REGISTRY_DATABASE_URL: dbUrl, REGISTRY_HOST, REGISTRY_PORT: String(REGISTRY_PORT), NODE_OPTIONS: '' },
    });
    writePid(pidFile(stateDir, 'registry'), pid);
    log(`registry: started pid ${pid} on ${REGISTRY_URL} (storage ${REGISTRY_DB}, log ${file})`);
  }
  await waitUntil('registry did not come up', () => registryAnswers(), { timeoutMs: REGISTRY_START_TIMEOUT_MS, pid, logFile: file });
  return spawned;
}

/**
 * Makes sure Kafka (127.0.0.1:9092) and the registry (127.0.0.1:8081) answer, starting whichever
 * does not. Safe to call concurrently from several processes (a lock file in stateDir).
 */
export async function ensureStack(opts: { stateDir: string; log?: Log; databaseUrl?: string; by?: string; brokers?: number; scram?: boolean }): Promise<StackInfo> {
  const log = opts.log ?? noop;
  const stateDir = resolve(opts.stateDir);
  const databaseUrl = opts.databaseUrl ?? process.env.DATABASE_URL ?? DEFAULT_DATABASE_URL;
  if ((opts.brokers ?? 1) > 1) {
    // a multi-broker cluster (infra/cluster.ts) in <stateDir>/cluster-<n>, beside the usual registry
    const cluster = clusterOf(stateDir, opts.brokers!, opts.scram);
    const started = await cluster.start(log);
    if (!(await registryAnswers())) {
      const spawned = await withLock(join(stateDir, 'run', 'stack.lock'), async () => !(await registryAnswers()) && startRegistry(stateDir, databaseUrl, log));
      if (spawned) started.push('registry');
    }
    return { brokers: cluster.bootstrap, registryUrl: REGISTRY_URL, started, env: cluster.clientEnv() };
  }
  const info = (started: string[]): StackInfo => ({ brokers: [KAFKA_BROKER], registryUrl: REGISTRY_URL, started });
  const [k0, r0] = await Promise.all([kafkaAnswers(), registryAnswers()]);
  if (k0 && r0) return info([]);
  mkdirSync(stateDir, { recursive: true });
  return withLock(
    join(stateDir, 'run', 'stack.lock'),
    async () => {
      const started: string[] = [];
      const [k, r] = await Promise.all([kafkaAnswers(), registryAnswers()]); // another holder may have started them
      const jobs: Promise<void>[] = [];
      const by = opts.by ?? `pid ${process.pid}`;
      const mark = (name: string) => (spawned: boolean) => {
        if (!spawned) return;
        started.push(name);
        writeFileSync(ownerFile(stateDir, name), `${by} at ${new Date().toISOString()}\n`);
      };
      if (!k) jobs.push(startKafka(stateDir, log).then(mark('kafka')));
      if (!r) jobs.push(startRegistry(stateDir, databaseUrl, log).then(mark('registry')));
      const results = await Promise.allSettled(jobs);
      const failed = results.filter((x): x is PromiseRejectedResult => x.status === 'rejected');
      if (failed.length) throw new Error(failed.map((f) => (f.reason as Error).message).join('\n\n'));
      return info(started.sort());
    },
    { onWait: (holder) => log(`waiting for another dbb process (pid ${holder}) that is starting the stack`) },
  );
}

/** Fetches what ensureStack would need (Maven jars) without starting anything. */
export async function prefetchStack(opts: { stateDir: string; log?: Log }): Promise<void> {
  await fetchArtifacts(resolve(opts.stateDir), 'kafka', opts.log ?? noop);
}

/** Stops the processes ensureStack started (by pid file); returns their names. */
export async function stopStack(opts: { stateDir: string; log?: Log; only?: string[] }): Promise<string[]> {
  const log = opts.log ?? noop;
  const stateDir = resolve(opts.stateDir);
  const stopped: string[] = [];
  for (const dir of clusterDirs(stateDir)) if (!opts.only || opts.only.some((p) => p.startsWith('kafka'))) stopped.push(...await clusterOf(dir).stop(log));
  // registry first: it is the quick one
  for (const part of [...PARTS].reverse()) {
    if (opts.only && !opts.only.includes(part.name)) continue;
    const pid = ourPid(stateDir, part);
    if (!pid) continue;
    log(`${part.name}: stopping pid ${pid}`);
    await terminate(pid, part.name === 'kafka' ? 60_000 : 10_000);
    removeFile(pidFile(stateDir, part.name));
    removeFile(ownerFile(stateDir, part.name));
    stopped.push(part.name);
  }
  // the dev tape-library simulator (cli/dev.ts) outlives a killed `dbb up` the same way
  if (!opts.only && await stopTapeSim(stateDir, log)) stopped.push('tape-sim');
  return stopped;
}

export async function stackStatus(opts: { stateDir: string }): Promise<{ name: string; pid: number | null; up: boolean; url: string; startedBy: string | null }[]> {
  const stateDir = resolve(opts.stateDir);
  return Promise.all(PARTS.map(async (p) => {
    const pid = ourPid(stateDir, p);
    let startedBy: string | null = null;
    try { if (pid) startedBy = readFileSync(ownerFile(stateDir, p.name), 'utf8').trim(); } catch { /* started before owners were recorded */ }
    return { name: p.name, pid, up: await p.answers(), url: p.url, startedBy };
  }));
}

/** Who started a part: the command and when (`dbb status` shows it). */
const ownerFile = (stateDir: string, name: string) => join(stateDir, 'run', `${name}.owner`);

// Shared bench plumbing: a private namespace + database + platform on the native stack (like
// test/support/stack.ts, without vitest), the BenchResult shape every bench/<name>.ts returns, and
// small helpers (percentiles, machine facts).
import { deleteNamespace } from '../../platform/namespace.ts';
import { randomBytes } from 'node:crypto';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { ensureStack, type StackInfo } from '../../infra/stack.ts';
import { loadConfig, type Config, type Env } from '../../platform/config.ts';
import { createLogger } from '../../platform/log.ts';
import { startPlatform, type Platform } from '../../platform/runtime.ts';

export interface BenchResult {
  name: string;
  /** measured values, units in the key */
  metrics: Record<string, number>;
  /** value / same-run baseline */
  ratios: Record<string, number>;
  notes?: string[];
}

/** Prefix of the line a bench child process prints its BenchResult JSON on (bench/support/child.ts). */
export const RESULT_MARK = '@@dbb-bench-result@@ ';

export interface BenchStack {
  id: string;
  info: StackInfo;
  env: Env;
  config: Config;
  platform: Platform;
  databaseUrl: string;
  /** Closes the platform, deletes the namespace's topics and drops the database. */
  stop(): Promise<void>;
}

const BASE_URL = () => process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const withDb = (url: string, name: string) => { const u = new URL(url); u.pathname = `/${name}`; return u.toString(); };

async function admin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: withDb(BASE_URL(), 'postgres') });
  await c.connect();
  try { return await fn(c); } finally { await c.end(); }
}

/** Brings up (or reuses) Kafka + registry, then a platform on namespace `b<name><id>.` and database `dbb_bench_<name>_<id>`. */
export async function startBenchStack(name: string, opts: { env?: Env; relay?: boolean; extraTopics?: string[] } = {}): Promise<BenchStack> {
  const stateDir = process.env.DBB_STATE_DIR ?? join(process.cwd(), '.dbb');
  const info = await ensureStack({ stateDir, databaseUrl: process.env.DATABASE_URL, log: (m) => console.error(`[stack] ${m}`) });
  const id = randomBytes(3).toString('hex');
  const dbName = `dbb_bench_${name}_${id}`;
  await admin((c) => c.query(`CREATE DATABASE "${dbName}"`));
  const databaseUrl = withDb(BASE_URL(), dbName);
  const env: Env = {
    ...process.env,
    DBB_NAMESPACE: `b${name}${id}.`,
    DBB_TEST_SCHEMAS: 'true',
    DATABASE_URL: databaseUrl,
    KAFKA_BROKERS: info.brokers.join(','),
    SCHEMA_REGISTRY_URL: info.registryUrl,
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
    ...opts.env,
  };
  const config = loadConfig(env);
  const log = createLogger({ level: config.logLevel, name: `bench-${name}` });
  let platform: Platform;
  try {
    platform = await startPlatform(config, { env, log, source: `bench-${name}`, relay: opts.relay, extraTopics: opts.extraTopics });
  } catch (err) {
    await admin((c) => c.query(`DROP DATABASE IF EXISTS "${dbName}" WITH (FORCE)`)).catch(() => {});
    throw err;
  }
  return {
    id, info, env, config, platform, databaseUrl,
    async stop() {
      await platform.close().catch(() => {});
      await deleteNamespace(config).catch(() => {});
      await admin((c) => c.query(`DROP DATABASE IF EXISTS "${dbName}" WITH (FORCE)`)).catch(() => {});
    },
  };
}

/** p in [0, 100], nearest-rank on a copy. */
export function percentile(values: number[], p: number): number {
  if (!values.length) return NaN;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}

export function machine() {
  const c = cpus();
  return { cores: c.length, cpu: c[0]?.model ?? 'unknown', loadavg: loadavg().map((x) => Math.round(x * 100) / 100) };
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export async function until(check: () => Promise<boolean> | boolean, timeoutMs: number, intervalMs = 20, what = 'condition'): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`benchmark timed out waiting for ${what}`);
    await sleep(intervalMs);
  }
}

/** A numeric CLI flag `--name <n>`. */
export const numArg = (name: string, argv = process.argv): number | undefined => {
  const i = argv.indexOf(`--${name}`);
  return i > 0 ? Number(argv[i + 1]) : undefined;
};

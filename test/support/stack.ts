// A private stack for one test file: its own topic/group/subject namespace on the shared broker and
// its own database, the platform (producer, outbox relay), the given consumers, the reply listener
// and the gateway (all domain routes). Use app.inject() or listen() for a real port.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';
import { createLogger } from '../../platform/log.ts';
import { deleteNamespace } from '../../platform/namespace.ts';
import { loadConfig, type Config, type Env } from '../../platform/config.ts';
import { startPlatform, type Platform } from '../../platform/runtime.ts';
import { startReplyListener, type ReplyListener } from '../../platform/request-reply.ts';
import { createAuth, hashToken } from '../../gateway/plugins/auth.ts';
import { buildApp } from '../../gateway/app.ts';
import type { App, Role } from '../../gateway/types.ts';
import type { ConsumerSpec, DomainDeps } from '../../platform/types.ts';

export interface TestStack {
  id: string;
  config: Config;
  env: Env;
  platform: Platform;
  db: Platform['db'];
  appender: Platform['appender'];
  replies: ReplyListener;
  app: App;
  /** Raw bearer tokens per role. */
  tokens: Record<Role, string>;
  /** `{ authorization: 'Bearer …' }` for the role. */
  auth(role: Role): Record<string, string>;
  /** Starts the gateway on a free port and returns its base URL. */
  listen(): Promise<string>;
  startConsumers(make: (deps: DomainDeps) => ConsumerSpec[]): Promise<void>;
  stop(): Promise<void>;
}

const ADMIN_DB = (url: string) => { const u = new URL(url); u.pathname = '/postgres'; return u.toString(); };

async function createDatabase(baseUrl: string, name: string): Promise<string> {
  const admin = new pg.Client({ connectionString: ADMIN_DB(baseUrl) });
  await admin.connect();
  try { await admin.query(`CREATE DATABASE "${name}"`); } finally { await admin.end(); }
  const u = new URL(baseUrl);
  u.pathname = `/${name}`;
  return u.toString();
}

async function dropDatabase(baseUrl: string, name: string) {
  const admin = new pg.Client({ connectionString: ADMIN_DB(baseUrl) });
  await admin.connect();
  try { await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`); } finally { await admin.end(); }
}

export function testEnv(id: string, databaseUrl: string, extra: Env = {}): { env: Env; tokens: Record<Role, string> } {
  const provided = inject('stack');
  const tokens = { reader: `reader-${id}`, producer: `producer-${id}`, operator: `operator-${id}` } as Record<Role, string>;
  const env: Env = {
    ...process.env,
    DBB_NAMESPACE: `t${id}.`,
    DBB_TEST_SCHEMAS: 'true',
    DATABASE_URL: databaseUrl,
    KAFKA_BROKERS: provided.brokers.join(','),
    SCHEMA_REGISTRY_URL: provided.registryUrl,
    DBB_TOKENS: (Object.keys(tokens) as Role[]).map((r) => `test-${r}:${r}:${hashToken(tokens[r])}`).join(','),
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
    // test files run in parallel against one Postgres (max_connections 100 here): keep each stack small
    DBB_PG_POOL: '6',
    // a killed consumer's partitions move to its restarted successor after this long
    DBB_SESSION_TIMEOUT_MS: '10000',
    DBB_STATE_DIR: process.env.DBB_STATE_DIR,
    TAPE_CALLBACK_ALLOW: '127.0.0.0/8,::1/128',
    ...extra,
  };
  return { env, tokens };
}

export async function startTestStack(opts: { consumers?: (deps: DomainDeps) => ConsumerSpec[]; env?: Env } = {}): Promise<TestStack> {
  const id = randomBytes(4).toString('hex');
  const baseUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  const dbName = `dbb_t${id}`;
  const databaseUrl = await createDatabase(baseUrl, dbName);
  const { env, tokens } = testEnv(id, databaseUrl, opts.env);
  const config = loadConfig(env);
  const log = createLogger({ level: config.logLevel, name: `test-${id}` });
  const platform = await startPlatform(config, { env, log, source: 'test' });
  const replies = await startReplyListener({ config, kafka: platform.kafka, serde: platform.serde, appender: platform.appender, log });
  const auth = createAuth(config);
  const app = await buildApp({ config, env, db: platform.db, appender: platform.appender, replies, auth, log });

  const stack: TestStack = {
    id, config, env, platform, db: platform.db, appender: platform.appender, replies, app, tokens,
    auth: (role) => ({ authorization: `Bearer ${tokens[role]}` }),
    async listen() {
      const url = await app.listen({ host: '127.0.0.1', port: 0 });
      return url.replace('localhost', '127.0.0.1');
    },
    async startConsumers(make) {
      for (const spec of make(platform.domainDeps)) await platform.startConsumer(spec);
    },
    async stop() {
      await app.close().catch(() => {});
      await replies.stop().catch(() => {});
      await platform.close().catch(() => {});
      await deleteNamespace(config).catch(() => {});
      await dropDatabase(baseUrl, dbName).catch(() => {});
    },
  };
  if (opts.consumers) await stack.startConsumers(opts.consumers);
  return stack;
}

/** Retries `fn` until it stops throwing (assertions included) or the timeout passes; returns its value. */
export async function eventually<T>(fn: () => Promise<T> | T, opts: { timeoutMs?: number; intervalMs?: number } = {}): Promise<T> {
  const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
  let last: unknown;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      last = err;
      if (Date.now() > deadline) throw last;
      await new Promise((r) => setTimeout(r, opts.intervalMs ?? 100));
    }
  }
}

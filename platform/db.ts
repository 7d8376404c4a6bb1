// Postgres: the pool, transactions, per-consumer schemas and migrations (node-pg-migrate).
import pg from 'pg';
import { runner } from 'node-pg-migrate';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import type { Logger } from 'pino';

export type Db = pg.Pool;
export type Tx = pg.PoolClient;

// bigint columns (offsets, counters) come back as JS numbers when safe; offsets stay strings in code.
pg.types.setTypeParser(20, (v) => { const n = Number(v); return Number.isSafeInteger(n) ? n : v; });

export function createPool(databaseUrl: string, max = 10): Db {
  const pool = new pg.Pool({ connectionString: databaseUrl, max, idleTimeoutMillis: 30_000 });
  pool.on('error', () => { /* idle client errors surface on the next query */ });
  return pool;
}

export async function withTx<T>(db: Db, fn: (tx: Tx) => Promise<T>, searchPath?: string): Promise<T> {
  const tx = await db.connect();
  try {
    await tx.query('BEGIN');
    if (searchPath) await tx.query(`SET LOCAL search_path TO ${quoteIdent(searchPath)}, public`);
    const out = await fn(tx);
    await tx.query('COMMIT');
    return out;
  } catch (err) {
    await tx.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    tx.release();
  }
}

export const quoteIdent = (s: string) => `"${s.replace(/"/g, '""')}"`;

/** Consumer name → Postgres schema: projection.gw → projection_gw. */
export const schemaOf = (consumerName: string) => consumerName.replace(/[^a-zA-Z0-9]/g, '_').toLowerCase();

const PLATFORM_MIGRATIONS = join(dirname(fileURLToPath(import.meta.url)), 'migrations');

async function migrateDir(databaseUrl: string, dir: string, schema: string, table: string, log?: Logger) {
  await runner({
    databaseUrl,
    dir,
    direction: 'up',
    migrationsTable: table,
    schema,
    createSchema: true,
    migrationsSchema: schema,
    createMigrationsSchema: true,
    checkOrder: true,
    count: Infinity,
    verbose: false,
    advisoryLockMode: 'wait',
    logger: { debug: () => {}, info: (m: string) => log?.debug({ schema }, m), warn: (m: string) => log?.warn({ schema }, m), error: (m: string) => log?.error({ schema }, m) },
  });
}

/** The tables every consumer keeps in its own schema (offsets, processed ids, effects ledger), then its own migrations. */
export async function migrateConsumerSchema(databaseUrl: string, schema: string, migrationsDir: string | undefined, log?: Logger) {
  await migrateDir(databaseUrl, join(PLATFORM_MIGRATIONS, 'consumer'), schema, 'platform_migrations', log);
  if (migrationsDir) await migrateDir(databaseUrl, migrationsDir, schema, 'pgmigrations', log);
}

/** The outbox lives in the `platform` schema, shared by every consumer in the database. */
export async function migratePlatform(databaseUrl: string, log?: Logger) {
  await migrateDir(databaseUrl, join(PLATFORM_MIGRATIONS, 'platform'), 'platform', 'platform_migrations', log);
}

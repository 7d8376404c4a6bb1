// A Postgres connection lost while a pg client is checked out and idle must not end the process
// (issue 14, zombie exits): pg emits 'error' on such a client and pg-pool has no listener on a
// checked-out client, so before the fix this was an unhandled 'error' event (exit 1). Two such clients
// in the platform: a batch's transaction while the handler awaits something, and the outbox relay's
// lock client, held for as long as it holds the lock. Both backends are terminated here
// (pg_terminate_backend) at that moment, in this process: the batch must be retried and applied once,
// the relay must take the lock again and publish.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import pg from 'pg';
import { ns } from '../../platform/config.ts';
import { enqueue } from '../../platform/outbox.ts';
import { makeMeta } from '../../platform/producer.ts';
import { withTx } from '../../platform/db.ts';
import { is, type ConsumerSpec } from '../../platform/types.ts';
import { startTestStack, type TestStack } from '../support/stack.ts';
import { EVENTS_TOPIC, sleep, until } from './support.ts';
import { TOPIC } from '../../schemas/generated/index.ts';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const MIGRATIONS = join(dirname(fileURLToPath(import.meta.url)), 'migrations');

let stack: TestStack;
const killed: string[] = [];

async function terminate(url: string, pid: number) {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try { await c.query('SELECT pg_terminate_backend($1)', [pid]); } finally { await c.end(); }
}

/** Writes one row per TortureRecorded; the first time it sees seq 0 of a key it has its own transaction's backend terminated while it waits. */
function connLossProjection(url: string): ConsumerSpec {
  return {
    name: 'projection.connloss',
    kind: 'projection',
    topics: [TOPIC.TORTURE_EVENTS],
    migrationsDir: MIGRATIONS, // the torture projection's tables (applied)
    async handle(event, { tx }) {
      if (!is(event, 'TortureRecorded')) return;
      if (event.value.seq === 0 && !killed.includes(event.value.key)) {
        killed.push(event.value.key);
        const { rows } = await tx.query('SELECT pg_backend_pid() AS pid');
        await terminate(url, rows[0].pid);
        await sleep(300); // idle, checked out: the 'error' arrives now, with no query running
      }
      await tx.query('INSERT INTO applied (event_id, key, seq, value) VALUES ($1, $2, $3, 1) ON CONFLICT (event_id) DO UPDATE SET applied = applied.applied + 1', [event.meta.eventId, event.value.key, event.value.seq]);
    },
  };
}

beforeAll(async () => {
  stack = await startTestStack();
  await stack.startConsumers(() => [connLossProjection(stack.config.databaseUrl)]);
}, 300_000);

afterAll(async () => {
  await stack?.stop();
}, 120_000);

const seen = async () => (await stack.db.query('SELECT key, seq::int AS seq, applied AS n FROM projection_connloss.applied ORDER BY key, seq').catch(() => ({ rows: [] }))).rows;

it('a batch whose connection is lost while the handler waits is retried and applied once; the process lives on', async () => {
  await stack.appender.append('TortureRecorded', 'a', { key: 'a', seq: 0, value: 1 });
  await stack.appender.append('TortureRecorded', 'a', { key: 'a', seq: 1, value: 1 });
  await until('both applied', async () => (await seen()).length === 2, 60_000);
  expect(killed).toEqual(['a']);
  expect(await seen()).toEqual([{ key: 'a', seq: 0, n: 1 }, { key: 'a', seq: 1, n: 1 }]);
}, 120_000);

it('the relay whose lock connection is lost takes the lock again and publishes', async () => {
  // the relay's lock client: the backend holding the advisory lock in this database
  let pid: number | null = null;
  await until('the relay holds its lock', async () => {
    const { rows } = await stack.db.query(
      `SELECT l.pid FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted AND ((l.classid::bigint << 32) | l.objid::bigint) = $1
         AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())`, [0x0db0_0001]);
    pid = rows[0]?.pid ?? null;
    return pid !== null;
  }, 30_000);
  await terminate(stack.config.databaseUrl, pid!);
  await sleep(500);
  const topic = ns(stack.config, EVENTS_TOPIC);
  const eventId = randomUUID();
  const value = stack.platform.serde.encode('TortureRecorded', { meta: makeMeta('connloss', { eventId }), key: 'b', seq: 5, value: 1 });
  await withTx(stack.db, (tx) => enqueue(tx, [{ topic, key: 'b', value }]));
  await until('the outbox row published and applied', async () => (await seen()).some((r) => r.key === 'b'), 60_000);
  expect((await seen()).filter((r) => r.key === 'b')).toEqual([{ key: 'b', seq: 5, n: 1 }]);
}, 120_000);

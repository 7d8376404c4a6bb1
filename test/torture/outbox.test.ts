// Fault suite, the outbox (Debezium outbox semantics; the "id > last seen" polling bug): writers open
// transactions that insert outbox rows and commit them in shuffled order (so ids commit out of order),
// while the relay process is SIGKILLed again and again. Every event must be published at least once
// (republishing after a kill is allowed), applied exactly once downstream, none skipped, per key in order.
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ns } from '../../platform/config.ts';
import { enqueue } from '../../platform/outbox.ts';
import { isTransient } from '../../platform/errors.ts';
import { makeMeta } from '../../platform/producer.ts';
import { startTestStack, type TestStack } from '../support/stack.ts';
import { createTortureProjection } from './consumers.ts';
import {
  appliedRows, checkHistory, countOf, EVENTS_TOPIC, figure, Fleet, FULL, historyFigures, logSize, offsetsVsLogEnd, printFigures,
  relayLockHolder, scaled, sleep, stallMonitor, startConsumersRetrying, torturePlatformReady, until, type Produced,
} from './support.ts';

const N = scaled(5_000, 50_000);
const KILLS = scaled(4, 20);
const WRITERS = 3;
const GROUP = 4; // transactions open at once per writer, committed in shuffled order
const ROWS = 10; // rows per transaction (one key, seq 0..9)
const TEST = 'outbox (relay SIGKILL, out-of-order commits)';

let stack: TestStack;
let fleet: Fleet | null = null;
let writers: pg.Pool | null = null;

beforeAll(async () => {
  stack = await startTestStack();
  await torturePlatformReady(stack);
  await startConsumersRetrying(stack, () => [createTortureProjection()]); // the relays under test run in the child processes
}, 300_000);

afterAll(async () => {
  await fleet?.stopAll();
  await Promise.race([writers?.end().catch(() => {}), sleep(5000)]);
  await stack?.stop();
  printFigures('torture: outbox');
}, 180_000);

const shuffle = <T>(xs: T[]) => { for (let i = xs.length - 1; i > 0; i--) { const j = Math.floor(Math.random() * (i + 1)); [xs[i], xs[j]] = [xs[j], xs[i]]; } return xs; };

it(`${N} events through the outbox, ${WRITERS}x${GROUP} transactions committed out of order, relay SIGKILLed ${KILLS} times`, async () => {
  writers = new pg.Pool({ connectionString: stack.config.databaseUrl, max: WRITERS * GROUP });
  const topic = ns(stack.config, EVENTS_TOPIC);
  const produced: Produced[] = [];
  let reserved = 0;
  let outOfOrder = 0;
  let tx = 0;

  async function writer(w: number) {
    while (reserved < N) {
      const n = Math.min(GROUP, Math.ceil((N - reserved) / ROWS));
      reserved += n * ROWS;
      const open = await Promise.all(Array.from({ length: n }, async () => {
        // Postgres is shared by every test on the box: "too many clients" (53300) is waited out, not failed on
        for (let attempt = 0; ; attempt++) {
          try { const c = await writers!.connect(); await c.query('BEGIN'); return c; } catch (err) {
            if (!isTransient(err) || attempt > 60) throw err;
            await sleep(500);
          }
        }
      }));
      const txs = open.map((c) => ({ c, key: `w${w}-${tx++}`, rows: [] as Produced[], firstId: 0 }));
      // rows of the open transactions interleave, so their ids interleave too
      for (let seq = 0; seq < ROWS; seq++) {
        for (const t of txs) {
          const eventId = randomUUID();
          const value = stack.platform.serde.encode('TortureRecorded', { meta: makeMeta('torture-writer', { eventId }), key: t.key, seq, value: 1 });
          await enqueue(t.c, [{ topic, key: t.key, value }]);
          if (seq === 0) t.firstId = Number((await t.c.query('SELECT currval(pg_get_serial_sequence($1, $2)) AS id', ['platform.outbox', 'id'])).rows[0].id);
          t.rows.push({ eventId, key: t.key, seq });
        }
      }
      let lastFirst = -1;
      for (const t of shuffle(txs)) {
        await sleep(Math.floor(Math.random() * 15));
        await t.c.query('COMMIT');
        t.c.release();
        if (t.firstId < lastFirst) outOfOrder++;
        lastFirst = Math.max(lastFirst, t.firstId);
        produced.push(...t.rows);
      }
    }
  }

  // two relay processes: the one holding the relay lock is killed, the other takes over (as a standby would)
  fleet = new Fleet({ ...stack.env, LOG_LEVEL: 'info' }, 'test/torture/consumers.ts', 'createRelayOnly');
  await Promise.all([fleet.spawn(0), fleet.spawn(1)]);
  fleet.supervise();
  const t0 = Date.now();
  const writing = Promise.all(Array.from({ length: WRITERS }, (_, w) => writer(w)));
  const applied = () => countOf(stack.db, 'SELECT count(*)::int AS n FROM projection_torture.applied');
  const monitor = stallMonitor(applied);

  const kills: number[] = [];
  let holderKills = 0;
  let respawn: Promise<unknown> = Promise.resolve();
  for (let k = 1; k <= KILLS; k++) {
    await until(`${k}/${KILLS + 1} applied`, async () => (await applied()) >= (N * k) / (KILLS + 1), scaled(240_000, 1_200_000));
    await respawn;
    await sleep(Math.floor(Math.random() * 300));
    const pids = fleet.procs.map((p) => p?.child.pid ?? -1);
    let holder: number | null = null;
    await until('a relay holds the lock', async () => (holder = await relayLockHolder(stack.db, pids)) !== null, 10_000).catch(() => {});
    const slot = holder !== null ? pids.indexOf(holder) : k % 2;
    if (holder !== null) holderKills++;
    await fleet.kill(slot, 'SIGKILL');
    kills.push(await applied());
    respawn = fleet.spawn(slot);
  }
  await respawn;
  await writing;
  await until('every outbox event applied, outbox empty', async () => (await applied()) >= N && (await countOf(stack.db, 'SELECT count(*)::int AS n FROM platform.outbox')) === 0,
    scaled(240_000, 1_200_000), 500).catch((err) => { console.log(fleet?.allOutput().slice(-6000)); throw err; });
  const longestStall = await monitor.stop();
  await sleep(1000);

  const history = checkHistory('outbox events (projection)', produced, await appliedRows(stack.db));
  const published = await logSize(stack, EVENTS_TOPIC);
  const offsets = await offsetsVsLogEnd(stack, 'projection_torture', [EVENTS_TOPIC]);

  figure(TEST, 'events, relay SIGKILLs (of the lock holder)', `${N}, ${kills.length} (${holderKills})`, FULL ? '50000, 20 (20)' : '5000, 4 (4)');
  figure(TEST, 'transactions committed out of id order', `${outOfOrder} of ${tx}`, '> 0');
  figure(TEST, 'records published (log) / republished duplicates', `${published} / ${published - N}`, `>= ${N} / any`);
  historyFigures(TEST, history);
  figure(TEST, 'stored offsets = log end (partitions behind)', `${offsets.behind.length} of ${offsets.partitions}`, '0');
  figure(TEST, 'longest stall', `${(longestStall / 1000).toFixed(1)} s`, FULL ? '< 60 s' : '< 120 s (short bound)');
  figure(TEST, 'unexpected child exits / failed child starts', `${fleet.unexpectedExits} / ${fleet.startFailures}`, '0 / any');
  figure(TEST, 'wall time', `${((Date.now() - t0) / 1000).toFixed(0)} s`);

  expect(kills).toHaveLength(KILLS);
  expect(outOfOrder).toBeGreaterThan(0);
  expect(published).toBeGreaterThanOrEqual(N);
  expect(history).toMatchObject({ produced: N, applied: N, lost: 0, duplicated: 0, reordered: 0, unexpected: 0 });
  expect(offsets.behind).toEqual([]);
  expect(longestStall).toBeLessThan(FULL ? 60_000 : 120_000);
  expect(fleet.exitReports).toEqual([]);
  expect(fleet.unexpectedExits).toBe(0);
}, FULL ? 3_600_000 : 600_000);

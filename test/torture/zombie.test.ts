// Fault suite, zombie fencing: while events flow, one of 3 instances is SIGSTOPped past its session
// timeout (the group gives its partitions to the others) and then SIGCONTinued, so it wakes up holding
// batches of partitions it no longer owns. The stored-offset row is the fence: its stale commits must
// fail (fence-lost log lines), so every event is applied exactly once and in per-key order.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestStack, type TestStack } from '../support/stack.ts';
import { createExternalTable } from './consumers.ts';
import { checkTortureRun, consumerCrashes, countOf, figure, Fleet, FULL, historyFigures, printFigures, produceInWaves, scaled, SESSION_TIMEOUT_MS, sleep, stallMonitor, torturePlatformReady, until } from './support.ts';

const CYCLES = Number(process.env.TORTURE_ZOMBIE_CYCLES) || scaled(3, 50); // TORTURE_ZOMBIE_CYCLES=15: a targeted run between the two forms
const KEYS = scaled(20, 40);
const WAVE_MS = scaled(250, 400); // ~80 events/s (short), ~100 events/s (full) while the cycles run
const PAUSE_MS = SESSION_TIMEOUT_MS + 2500;
const TEST = 'zombie (SIGSTOP > session timeout)';

let stack: TestStack;
let fleet: Fleet | null = null;

beforeAll(async () => {
  stack = await startTestStack({ env: { DBB_SESSION_TIMEOUT_MS: String(SESSION_TIMEOUT_MS) } });
  await torturePlatformReady(stack);
  await createExternalTable(stack.config.databaseUrl);
}, 300_000);

afterAll(async () => {
  await fleet?.stopAll();
  await stack?.stop();
  printFigures('torture: zombie');
}, 180_000);

it(`${CYCLES} SIGSTOP/SIGCONT cycles of ${PAUSE_MS} ms: stale batches are fenced, every event applied once`, async () => {
  fleet = new Fleet({ ...stack.env, LOG_LEVEL: 'info' }, 'test/torture/consumers.ts', 'createTortureConsumers');
  await Promise.all([0, 1, 2].map((slot) => fleet!.spawn(slot)));
  fleet.supervise();
  let cycling = true;
  const producing = produceInWaves(stack, {
    count: Number.MAX_SAFE_INTEGER, keys: KEYS, prefix: 'z',
    pace: async () => { await sleep(WAVE_MS); return cycling; },
  });
  const progress = async () => (await countOf(stack.db, 'SELECT count(*)::int AS n FROM projection_torture.applied')) + (await countOf(stack.db, 'SELECT count(*)::int AS n FROM projection_torture.outcomes'));
  const monitor = stallMonitor(progress);
  await until('first events applied', async () => (await progress()) > 0, 120_000);

  for (let c = 0; c < CYCLES; c++) {
    const slot = c % 3;
    const p = fleet.procs[slot];
    if (!p) { await sleep(1000); continue; }
    p.child.kill('SIGSTOP');
    await sleep(PAUSE_MS);
    p.child.kill('SIGCONT');
    await sleep(scaled(3000, 2500));
  }
  cycling = false;
  const produced = await producing;
  const cycled = Date.now();
  const N = produced.length;
  await until('every event and outcome applied, outbox empty', async () => {
    const [p, o] = [await progress(), await countOf(stack.db, 'SELECT count(*)::int AS n FROM platform.outbox')];
    return p >= 2 * N && o === 0;
  }, scaled(240_000, 900_000), 500).catch((err) => { console.log(fleet?.allOutput().slice(-6000)); throw err; });
  const longestStall = await monitor.stop();
  const caughtUp = Date.now() - cycled;
  await sleep(1000);

  const { events, outcomes, effects, proj, proc } = await checkTortureRun(stack, produced);
  const fenceLost = (fleet.allOutput().match(/offset fence lost/g) ?? []).length;

  figure(TEST, 'cycles x pause (session timeout)', `${CYCLES} x ${PAUSE_MS} ms (${SESSION_TIMEOUT_MS} ms)`, FULL ? '50' : '>= 3');
  figure(TEST, 'events produced while cycling', N);
  historyFigures(TEST, events);
  historyFigures(TEST, outcomes);
  figure(TEST, 'external effects: lost, repeated (count > 1), reconciled UNKNOWN', `${effects.lost}, ${effects.duplicated}, ${effects.reconciled}`, '0, 0, any');
  figure(TEST, 'stale commits refused (fence-lost log lines)', fenceLost, 'any (0 if no stale batch was in flight)');
  figure(TEST, 'stored offsets = log end (partitions behind)', `${proj.behind.length + proc.behind.length} of ${proj.partitions + proc.partitions}`, '0');
  figure(TEST, 'longest stall', `${(longestStall / 1000).toFixed(1)} s`, FULL ? '< 60 s' : '< 120 s (short bound)');
  figure(TEST, 'unexpected child exits / failed child starts', `${fleet.unexpectedExits} / ${fleet.startFailures}`, '0 / 0');
  const crashes = consumerCrashes(fleet.allOutput());
  figure(TEST, 'kafkajs consumer crashes: restarted / left stopped', `${crashes.restarted} / ${crashes.stopped}`, 'any / 0');
  figure(TEST, 'catch-up after the last cycle', `${(caughtUp / 1000).toFixed(0)} s`);

  for (const h of [events, outcomes]) expect(h).toMatchObject({ produced: N, applied: N, lost: 0, duplicated: 0, reordered: 0, unexpected: 0 });
  expect(effects).toMatchObject({ produced: N, applied: N, lost: 0, duplicated: 0, unexpected: 0 });
  expect(proj.behind).toEqual([]);
  expect(proc.behind).toEqual([]);
  expect(longestStall).toBeLessThan(FULL ? 60_000 : 120_000);
  // a fenced (zombie) instance recovers in-process: it must never end
  expect(fleet.exitReports).toEqual([]);
  expect(fleet.unexpectedExits).toBe(0);
}, FULL ? 3_600_000 : 600_000);

// Exactly-once under SIGKILL: a child process runs a projection and an outbox-emitting processor over
// 20,000 events and is killed at random points; after restarts every event (and every echo the
// processor emitted through the outbox) is applied exactly once.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { spawnConsumers, type ConsumerProcess } from './support/consumer-process.ts';
import { eventually, startTestStack, type TestStack } from './support/stack.ts';

const N = 20_000;
const KILLS = 6;
let stack: TestStack;
let proc: ConsumerProcess | null = null;

// a short session lets the restarted instance take over the killed one's partitions quickly
beforeAll(async () => { stack = await startTestStack({ env: { DBB_SESSION_TIMEOUT_MS: '6000' } }); });
afterAll(async () => {
  proc?.child.kill('SIGKILL');
  await stack?.stop();
});

const spawn = () => spawnConsumers(stack.env, 'test/support/sample/index.ts', 'createSampleConsumers');

async function totals() {
  const { rows } = await stack.db.query(`
    SELECT count(*) FILTER (WHERE sample_id NOT LIKE 'echo-%')::int AS n, coalesce(sum(value) FILTER (WHERE sample_id NOT LIKE 'echo-%'), 0)::bigint AS sum,
           count(*) FILTER (WHERE sample_id LIKE 'echo-%')::int AS echoes, coalesce(sum(value) FILTER (WHERE sample_id LIKE 'echo-%'), 0)::bigint AS echo_sum,
           coalesce(max(applied), 0)::int AS max_applied
    FROM projection_sample.samples`).catch(() => ({ rows: [{ n: 0, sum: 0, echoes: 0, echo_sum: 0, max_applied: 0 }] }));
  return rows[0] as { n: number; sum: number; echoes: number; echo_sum: number; max_applied: number };
}

it(`applies ${N} events and their outbox echoes exactly once across ${KILLS} SIGKILLs`, async () => {
  const produced = Promise.all(Array.from({ length: N }, (_, i) =>
    stack.appender.append('SampleRecorded', `key-${i % 97}`, { sampleId: `s${i}`, value: i, payload: Buffer.alloc(0) })));

  const kills: number[] = [];
  for (let k = 0; k < KILLS; k++) {
    proc = spawn();
    await proc.ready;
    const before = (await totals()).n + (await totals()).echoes;
    const target = before + 500 + Math.floor(Math.random() * 4000);
    // kill once progress passes a random point (or after a random pause if the run is nearly done)
    await eventually(async () => { const t = await totals(); expect(t.n + t.echoes).toBeGreaterThanOrEqual(Math.min(target, 2 * N - 1)); }, { timeoutMs: 60_000, intervalMs: 20 })
      .catch(() => {});
    await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 200)));
    proc.child.kill('SIGKILL');
    await proc.exited;
    const t = await totals();
    kills.push(t.n + t.echoes);
    console.log(`kill ${k + 1}: ${t.n} events, ${t.echoes} echoes applied`);
  }
  await produced;
  proc = spawn();
  await proc.ready;
  const final = await eventually(async () => {
    const t = await totals();
    const { rows: [o] } = await stack.db.query('SELECT count(*)::int AS n FROM platform.outbox');
    expect({ ...t, outbox: o.n }).toMatchObject({ n: N, echoes: N, outbox: 0 });
    return t;
  }, { timeoutMs: 300_000, intervalMs: 500 }).catch((err) => { console.log(proc?.output().slice(-5000)); throw err; });
  const expectedSum = (N * (N - 1)) / 2;
  expect(Number(final.sum)).toBe(expectedSum);
  expect(Number(final.echo_sum)).toBe(expectedSum);
  expect(final.max_applied).toBe(1);
  expect(kills).toHaveLength(KILLS);
  // the kills happened mid-run, not all before or after the work
  expect(kills.filter((n) => n > 0 && n < 2 * N).length).toBeGreaterThanOrEqual(5);
}, 600_000);

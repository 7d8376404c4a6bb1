// Scale-out on a real cluster (issue 18): a 3-broker KRaft cluster of our own (own state dir and
// ports, SCRAM-SHA-512 on), topics at RF 3 / min ISR 2, acks=all; the torture projection + processor
// and the GW processor run as 2 instances (child processes), two gateways (each its own reply
// partition) answer /streamdata over HTTP. Mid-stream one broker is SIGKILLed and later restarted
// (full scale: twice, different brokers). Then: 0 lost / duplicated / reordered, effects exactly once,
// both gateways answered before, during and after the failover (each CREATED chunk stored once), stall times
// measured (not bounded: speed is a figure), and a stopped
// gateway leaves no consumer group behind. Runs in `npm run torture` (3 JVMs are too heavy for npm test).
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KafkaCluster } from '../../infra/cluster.ts';
import { buildApp } from '../../gateway/app.ts';
import { createAuth } from '../../gateway/plugins/auth.ts';
import type { App } from '../../gateway/types.ts';
import { ns } from '../../platform/config.ts';
import { createLogger } from '../../platform/log.ts';
import { REPLY_TOPIC } from '../../platform/reply-route.ts';
import { startReplyListener, type ReplyListener } from '../../platform/request-reply.ts';
import { startTestStack, type TestStack } from '../support/stack.ts';
import { freePortRange } from '../support/cluster.ts';
import { createExternalTable } from './consumers.ts';
import { partitionReport, printPartitionReport, printProducerState } from './cluster-diagnose.ts';
import { checkTortureRun, countOf, EVENTS_TOPIC, logSize, figure, Fleet, FULL, historyFigures, printFigures, produceInWaves, scaled, SESSION_TIMEOUT_MS, sleep, stallMonitor, torturePlatformReady, until } from './support.ts';

const RUN = FULL || process.env.DBB_CLUSTER_TEST === '1';
const N = scaled(3000, 20_000);
const KEYS = scaled(60, 200);
const KILLS_AT = FULL ? [30, 65] : [40]; // % of progress
const DOWN_MS = 8000;
const TEST = '3-broker cluster (SCRAM, RF 3, min ISR 2)';

let dir = '';
let cluster: KafkaCluster;
let stack: TestStack;
let fleet: Fleet | null = null;
let second: { replies: ReplyListener; app: App } | null = null;

describe.skipIf(!RUN)('3-broker cluster', () => {
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'dbb-cluster-'));
    cluster = new KafkaCluster(dir, { brokers: 3, scram: true, basePort: await freePortRange(6), heap: '512m' });
    await cluster.start((m) => console.log(`[cluster] ${m}`));
    stack = await startTestStack({ env: { ...cluster.clientEnv(), DBB_SESSION_TIMEOUT_MS: String(SESSION_TIMEOUT_MS), GW_DATA_DIR: join(dir, 'gw'), DBB_REPLY_TIMEOUT_MS: '20000' } });
    await torturePlatformReady(stack);
    await createExternalTable(stack.config.databaseUrl);
    // the second gateway: its own reply listener (another partition of the replies topic) and app
    const log = createLogger({ level: 'warn', name: 'gateway-2' });
    const replies = await startReplyListener({ config: stack.config, kafka: stack.platform.kafka, serde: stack.platform.serde, appender: stack.appender, log, replyPartition: (stack.replies.replyPartition + 1) % 32 });
    const app = await buildApp({ config: stack.config, env: stack.env, db: stack.db, appender: stack.appender, replies, auth: createAuth(stack.config), log });
    second = { replies, app };
  }, 600_000);

  afterAll(async () => {
    await fleet?.stopAll();
    await second?.app.close().catch(() => {});
    await second?.replies.stop().catch(() => {});
    // a hung producer must not keep the cluster's JVMs running: stop them even if the stack does not close
    await Promise.race([stack?.stop(), sleep(60_000)]);
    await cluster?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
    printFigures('torture: cluster');
  }, 300_000);

  it('refuses a client without SCRAM credentials; topics have RF 3 and min.insync.replicas 2', async () => {
    const anonymous = new Kafka({ clientId: 'no-sasl', brokers: cluster.bootstrap, logLevel: logLevel.NOTHING, connectionTimeout: 2000, requestTimeout: 4000, retry: { retries: 0 } }).admin();
    await expect(anonymous.connect().then(() => anonymous.describeCluster())).rejects.toThrow();
    await anonymous.disconnect().catch(() => {});
    const admin = stack.platform.kafka.admin();
    await admin.connect();
    try {
      const topic = ns(stack.config, EVENTS_TOPIC);
      const meta = await admin.fetchTopicMetadata({ topics: [topic, `${topic}.dlq`, ns(stack.config, REPLY_TOPIC)] });
      for (const t of meta.topics) for (const p of t.partitions) expect(p.replicas).toHaveLength(3);
      const configs = await admin.describeConfigs({ includeSynonyms: false, resources: [{ type: 2 /* TOPIC */, name: topic }] });
      expect(configs.resources[0].configEntries.find((e) => e.configName === 'min.insync.replicas')?.configValue).toBe('2');
    } finally {
      await admin.disconnect();
    }
  });

  it(`${N} events, 2 processor instances, 2 gateways, broker SIGKILL x${KILLS_AT.length} mid-stream: exactly once, in order; replies through both gateways`, async () => {
    fleet = new Fleet({ ...stack.env, LOG_LEVEL: 'info' }, 'test/torture/cluster-consumers.ts', 'createClusterConsumers');
    await Promise.all([0, 1].map((slot) => fleet!.spawn(slot)));
    fleet.supervise();
    const gateways = [await stack.listen(), await second!.app.listen({ host: '127.0.0.1', port: 0 })];

    // request/reply over HTTP, alternating gateways, the whole run long
    const answers = gateways.map(() => ({ created: 0, timeouts: 0, other: 0, inFailover: 0 }));
    const fnames: string[] = [];
    let failover = false;
    let streaming = true;
    let k = 0;
    const chunk = () => ({ h: Array.from({ length: 64 }, (_, i) => Math.sin(i + k) * 1e-21), t: [1126259462 + k * 64, 1 / 4096] });
    const streamer = (async () => {
      while (streaming) {
        const g = k % 2;
        const res = await fetch(`${gateways[g]}/streamdata`, { method: 'POST', headers: { ...stack.auth('producer'), 'content-type': 'application/json' }, body: JSON.stringify(chunk()) }).catch(() => null);
        k++;
        const body = res && res.status === 200 ? await res.json() : null;
        if (body?.resp === 'CREATED') { answers[g].created++; fnames.push(body.body.fname); if (failover) answers[g].inFailover++; } else if (res?.status === 504) answers[g].timeouts++; else answers[g].other++;
        await sleep(100);
      }
    })();

    const t0 = Date.now();
    let retries = 0;
    const producing = produceInWaves(stack, { count: N, keys: KEYS, onRetry: () => retries++ });
    const progress = async () => (await countOf(stack.db, 'SELECT count(*)::int AS n FROM projection_torture.applied')) + (await countOf(stack.db, 'SELECT count(*)::int AS n FROM projection_torture.outcomes'));
    const monitor = stallMonitor(progress);
    const kills: { node: number; at: number; downMs: number; stallMs: number; isrBackMs: number }[] = [];
    const timeline: { at: number; what: string }[] = [];
    for (const pct of KILLS_AT) {
      await until(`${pct} % progress`, async () => (await progress()) >= (2 * N * pct) / 100, scaled(600_000, 1_800_000));
      const node = await leaderOfMost(cluster, stack, kills.map((x) => x.node));
      const before = await progress();
      const down = Date.now();
      failover = true;
      await cluster.killNode(node, 'SIGKILL');
      timeline.push({ at: Date.now(), what: `broker ${node} SIGKILL` });
      // progress with one broker gone: how long until records are applied again
      await until('progress with a broker down', async () => (await progress()) > before, 300_000, 100);
      const stallMs = Date.now() - down;
      await sleep(Math.max(0, DOWN_MS - stallMs));
      await cluster.startNode(node);
      timeline.push({ at: Date.now(), what: `broker ${node} restart` });
      await cluster.waitForBrokers(3);
      const back = Date.now();
      timeline.push({ at: back, what: `broker ${node} registered` });
      await until(`node ${node} back in every ISR`, async () => inAllIsr(stack, node), 300_000, 500);
      failover = false;
      kills.push({ node, at: pct, downMs: back - down, stallMs, isrBackMs: Date.now() - back });
      console.log(`broker ${node} SIGKILL at ${pct} %: progress resumed after ${stallMs} ms, down ${back - down} ms, back in all ISRs ${Date.now() - back} ms later`);
    }
    // a hang of the producing side (seen once, docs/guarantees.md) fails the run instead of waiting for the test timeout;
    // while a batch is stuck, the producer's state is printed every minute (kafkajs retries end within ~2 min)
    let timer: NodeJS.Timeout | undefined;
    const watchdog = setInterval(() => {
      const s = stack.platform.producer.state();
      if ((s.inFlight?.forMs ?? 0) > 30_000) printProducerState(stack, 'a batch in flight for over 30 s');
    }, 60_000);
    const produced = await Promise.race([producing, new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`appends did not settle within ${scaled(5, 20)} min (log and applied counts: see the figures)`)), scaled(300_000, 1_200_000));
    })]).catch(async (err) => {
      printProducerState(stack, 'appends did not settle');
      printPartitionReport(await partitionReport(stack, null));
      throw err;
    }).finally(() => { clearTimeout(timer); clearInterval(watchdog); });
    await until('every event and outcome applied, outbox empty', async () => {
      const [p, o] = [await progress(), await countOf(stack.db, 'SELECT count(*)::int AS n FROM platform.outbox')];
      return p >= 2 * N && o === 0;
    }, scaled(300_000, 1_800_000), 500).catch(async (err) => {
      // lost from the log, or not consumed? the log's size per partition says which (docs/guarantees.md, open finding)
      const inLog = await logSize(stack, EVENTS_TOPIC).catch(() => -1);
      console.log(`${produced.length} appends acknowledged, ${inLog} records in the input log, ${await progress()} of ${2 * N} applied`);
      printPartitionReport(await partitionReport(stack, produced));
      printProducerState(stack, 'not everything applied');
      console.log(fleet?.allOutput().slice(-6000));
      throw err;
    });
    const longestStall = await monitor.stop();
    const from = monitor.longestFrom();
    const before = timeline.filter((e) => e.at <= from + 1000).pop();
    const elapsed = Date.now() - t0;
    // both gateways keep answering after the last restart
    const createdBefore = answers.map((a) => a.created);
    await until('both gateways answer CREATED after the failovers', async () => answers.every((a, i) => a.created >= createdBefore[i] + 3), 120_000, 200);
    streaming = false;
    await streamer;
    await sleep(1000);

    const { events, outcomes, effects, proj, proc } = await checkTortureRun(stack, produced);
    const missing = fnames.filter((f) => !existsSync(join(dir, 'gw', 'default', 'data', f)));
    const output = fleet.allOutput();
    const password = (cluster.sasl() as { password: string }).password;

    figure(TEST, 'events x partitions x processor instances x gateways', `${N} x 6 x 2 x 2`);
    figure(TEST, 'broker SIGKILLs (node at % progress)', kills.map((x) => `${x.node}@${x.at}%`).join(', '), KILLS_AT.length);
    figure(TEST, 'progress stalled after a broker SIGKILL (ms)', kills.map((x) => x.stallMs).join(', '), 'measured');
    figure(TEST, 'broker down (SIGKILL to registered again, ms)', kills.map((x) => x.downMs).join(', '), `>= ${DOWN_MS}`);
    figure(TEST, 'restarted broker back in every ISR after (ms)', kills.map((x) => x.isrBackMs).join(', '), 'measured');
    figure(TEST, 'longest stall of the run (no pause for the broker kill)', `${(longestStall / 1000).toFixed(1)} s`, 'measured');
    figure(TEST, 'longest stall began', before ? `${((from - before.at) / 1000).toFixed(1)} s after ${before.what}` : `${((from - t0) / 1000).toFixed(0)} s into the run`);
    figure(TEST, '/streamdata CREATED: distinct file names, files missing', `${new Set(fnames).size} of ${fnames.length}, ${missing.length}`, 'all, 0');
    historyFigures(TEST, events);
    historyFigures(TEST, outcomes);
    figure(TEST, 'external effects: lost, repeated, reconciled UNKNOWN', `${effects.lost}, ${effects.duplicated}, ${effects.reconciled}`, '0, 0, any');
    figure(TEST, 'stored offsets = log end (partitions behind)', `${proj.behind.length + proc.behind.length} of ${proj.partitions + proc.partitions}`, '0');
    figure(TEST, '/streamdata gateway 1: CREATED (during failover) / 504 / other', `${answers[0].created} (${answers[0].inFailover}) / ${answers[0].timeouts} / ${answers[0].other}`, '> 0 / any / 0');
    figure(TEST, '/streamdata gateway 2: CREATED (during failover) / 504 / other', `${answers[1].created} (${answers[1].inFailover}) / ${answers[1].timeouts} / ${answers[1].other}`, '> 0 / any / 0');
    figure(TEST, 'failed appends retried', retries, 'any');
    figure(TEST, 'SCRAM password in child logs', output.includes(password) ? 'FOUND' : 'absent', 'absent');
    figure(TEST, 'wall time', `${(elapsed / 1000).toFixed(0)} s`);

    expect(kills).toHaveLength(KILLS_AT.length);
    for (const h of [events, outcomes]) expect(h).toMatchObject({ produced: N, applied: N, lost: 0, duplicated: 0, reordered: 0, unexpected: 0 });
    expect(effects).toMatchObject({ produced: N, applied: N, lost: 0, duplicated: 0, unexpected: 0 });
    expect(proj.behind).toEqual([]);
    expect(proc.behind).toEqual([]);
    for (const a of answers) {
      expect(a.created).toBeGreaterThan(0);
      expect(a.other).toBe(0);
    }
    expect(new Set(fnames).size).toBe(fnames.length);
    expect(missing).toEqual([]);
    expect(fleet.unexpectedExits).toBe(0);
    expect(output.includes(password)).toBe(false);
  }, FULL ? 3_600_000 : 1_200_000);

  it('a stopped gateway leaves no consumer group behind', async () => {
    const groups = second!.replies.groups;
    expect(groups.length).toBeGreaterThan(0);
    await second!.app.close();
    await second!.replies.stop();
    second = null;
    const admin = stack.platform.kafka.admin();
    await admin.connect();
    try {
      const listed = new Set((await admin.listGroups()).groups.map((g) => g.groupId));
      expect(groups.filter((g) => listed.has(g))).toEqual([]);
    } finally {
      await admin.disconnect();
    }
  });
});

/** The broker (not in `skip`) that leads the most partitions of the torture events topic. */
async function leaderOfMost(c: KafkaCluster, s: TestStack, skip: number[]): Promise<number> {
  const admin = s.platform.kafka.admin();
  await admin.connect();
  try {
    const meta = await admin.fetchTopicMetadata({ topics: [ns(s.config, EVENTS_TOPIC)] });
    const count = new Map<number, number>();
    for (const p of meta.topics[0].partitions) count.set(p.leader, (count.get(p.leader) ?? 0) + 1);
    const candidates = c.nodes.map((n) => n.id).filter((id) => !skip.includes(id));
    return candidates.sort((a, b) => (count.get(b) ?? 0) - (count.get(a) ?? 0))[0];
  } finally {
    await admin.disconnect();
  }
}

/** True when `node` is in the ISR of every partition of the test's topics. */
async function inAllIsr(s: TestStack, node: number): Promise<boolean> {
  const admin = s.platform.kafka.admin();
  await admin.connect();
  try {
    const topics = (await admin.listTopics()).filter((t) => t.startsWith(s.config.namespace));
    const meta = await admin.fetchTopicMetadata({ topics });
    return meta.topics.every((t) => t.partitions.every((p) => p.isr.includes(node)));
  } finally {
    await admin.disconnect();
  }
}

// kafkajs's in-send retry as patched by patches/kafkajs+2.2.4.patch (issue 18, docs/guarantees.md "A
// 3-broker cluster"): kafkajs's own sendMessages with its own retrier, against a fake cluster whose
// leader dies mid-request. Unpatched, a retry re-sent only to brokers that had not answered yet, so the
// dead leader's partitions, moved to a broker that had answered, were never re-sent and the send
// resolved without them.
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';

const require = createRequire(import.meta.url);
const createSendMessages = require('kafkajs/src/producer/sendMessages.js');
const createRetry = require('kafkajs/src/retry');
const { KafkaJSConnectionClosedError } = require('kafkajs/src/errors.js');

const TOPIC = 't';
const silent = { debug() {}, info() {}, warn() {}, error() {} };
const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Produced { nodeId: number; partition: number; firstSequence: number; values: string[] }

/**
 * A cluster of brokers 1–3 with `leaders` (partition → node) until the first produce request to `dying`
 * fails (connection closed): the next metadata refresh moves its partitions to `successor`.
 * `slowMs`: how long the other brokers take to answer.
 */
function fakeCluster(opts: { leaders: Record<number, number>; dying: number; successor: number; slowMs?: number }) {
  const leaders = { ...opts.leaders };
  let dead = false;
  const written: Produced[] = [];
  const attempted: Produced[] = [];
  const broker = (nodeId: number) => ({
    nodeId,
    async produce({ topicData }: { topicData: { topic: string; partitions: { partition: number; firstSequence: number; messages: { value: string }[] }[] }[] }) {
      const sent = topicData.flatMap((t) => t.partitions.map((p) => ({ nodeId, partition: p.partition, firstSequence: p.firstSequence, values: p.messages.map((m) => m.value) })));
      attempted.push(...sent);
      if (nodeId === opts.dying) {
        dead = true;
        throw new KafkaJSConnectionClosedError('Closed connection', { host: `b${nodeId}`, port: 9092 });
      }
      await delay(opts.slowMs ?? 0);
      written.push(...sent);
      return { topics: topicData.map((t) => ({ topicName: t.topic, partitions: t.partitions.map((p) => ({ partition: p.partition, errorCode: 0, baseOffset: '0' })) })) };
    },
  });
  const brokers = new Map([1, 2, 3].map((id) => [id, broker(id)]));
  const cluster = {
    targetTopics: new Set([TOPIC]),
    async addMultipleTargetTopics() {},
    async refreshMetadataIfNecessary() {},
    async refreshMetadata() {
      if (!dead) return;
      for (const [p, node] of Object.entries(leaders)) if (node === opts.dying) leaders[Number(p)] = opts.successor;
    },
    isConnected: () => true,
    async connect() {},
    removeBroker() {},
    findTopicPartitionMetadata: () => Object.entries(leaders).map(([p, leader]) => ({ partitionId: Number(p), leader })),
    findLeaderForPartitions(_topic: string, partitions: string[]) {
      const out: Record<number, number[]> = {};
      for (const p of partitions.map(Number)) (out[leaders[p]] ??= []).push(p);
      return out;
    },
    async findBroker({ nodeId }: { nodeId: string }) { return brokers.get(Number(nodeId)); },
  };
  return { cluster, written, attempted };
}

function fakeEosManager() {
  const sequences = new Map<string, number>();
  return {
    isTransactional: () => false,
    getProducerId: () => 1,
    getProducerEpoch: () => 0,
    async acquireBrokerLock() {},
    async releaseBrokerLock() {},
    getSequence: (topic: string, partition: number) => sequences.get(`${topic}/${partition}`) ?? 0,
    updateSequence: (topic: string, partition: number, n: number) => sequences.set(`${topic}/${partition}`, (sequences.get(`${topic}/${partition}`) ?? 0) + n),
  };
}

async function send(fake: ReturnType<typeof fakeCluster>, messages: { partition: number; value: string }[]) {
  const sendMessages = createSendMessages({
    logger: silent,
    cluster: fake.cluster,
    partitioner: ({ message }: { message: { partition: number } }) => message.partition,
    eosManager: fakeEosManager(),
    retrier: createRetry({ initialRetryTime: 1, maxRetryTime: 5, retries: 3 }),
  });
  return (await sendMessages({ acks: -1, timeout: 1000, topicMessages: [{ topic: TOPIC, messages }] })) as { topicName: string; partition: number }[];
}

const wave = (partitions: number[]) => partitions.flatMap((p) => [0, 1].map((i) => ({ partition: p, value: `p${p}-${i}` })));

describe('kafkajs in-send retry (patched)', () => {
  it('re-sends the dead leader\'s partitions to the broker that already answered for others', async () => {
    // p1 and p4 on node 1, which dies; they move to node 2, which answered for p0 in the first attempt
    const fake = fakeCluster({ leaders: { 0: 2, 1: 1, 2: 3, 4: 1 }, dying: 1, successor: 2 });
    const result = await send(fake, wave([0, 1, 2, 4]));

    expect(result.map((r) => r.partition).sort()).toEqual([0, 1, 2, 4]);
    const writtenValues = fake.written.flatMap((w) => w.values).sort();
    expect(writtenValues).toEqual(wave([0, 1, 2, 4]).map((m) => m.value).sort()); // each once
    expect(fake.written.filter((w) => w.partition === 1 || w.partition === 4).map((w) => w.nodeId)).toEqual([2, 2]);
  });

  it('re-sends a failed partition with the sequence numbers of its first try (the broker dedupes a write it did get)', async () => {
    const fake = fakeCluster({ leaders: { 0: 2, 1: 1 }, dying: 1, successor: 2 });
    await send(fake, wave([0, 1]));
    expect(fake.attempted.filter((a) => a.partition === 1).map((a) => a.firstSequence)).toEqual([0, 0]);
  });

  it('waits for the requests still in flight before retrying, so none is sent twice', async () => {
    // node 2 answers long after node 1's request failed
    const fake = fakeCluster({ leaders: { 0: 2, 1: 1, 2: 3 }, dying: 1, successor: 3, slowMs: 50 });
    const result = await send(fake, wave([0, 1, 2]));

    expect(result.map((r) => r.partition).sort()).toEqual([0, 1, 2]);
    expect(fake.attempted.filter((a) => a.partition === 0)).toHaveLength(1);
    expect(fake.attempted.filter((a) => a.partition === 2)).toHaveLength(1);
  });
});

// BatchingProducer against a fake kafkajs client (an in-memory log, one injected failing sendBatch): the
// order window of issue 14. A sendMany split over several sendBatch calls whose first call fails must not
// have its later batches written (by the fresh producer) before the caller retries the failed prefix.
import type { Kafka } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { BatchingProducer, NotSentError, type RawRecord } from './producer.ts';

interface Written { key: string; value: string; producer: number }

/** A fake Kafka: every producer appends to one shared log; sendBatch call number `failAt` (1-based) fails. */
function fakeKafka(opts: { failAt?: number[]; writeThenFail?: boolean } = {}) {
  const log: Written[] = [];
  const batches: number[] = [];
  let calls = 0;
  let producers = 0;
  const kafka = {
    producer: () => {
      const id = ++producers;
      return {
        connect: async () => {},
        disconnect: async () => {},
        sendBatch: async ({ topicMessages }: { topicMessages: { topic: string; messages: { key: string; value: Buffer }[] }[] }) => {
          const n = ++calls;
          await new Promise((r) => setTimeout(r, 5)); // the request is on the wire for a while
          const messages = topicMessages.flatMap((t) => t.messages);
          const fail = opts.failAt?.includes(n);
          if (!fail || opts.writeThenFail) for (const m of messages) log.push({ key: m.key, value: m.value.toString(), producer: id });
          if (fail) throw Object.assign(new Error(`injected failure of sendBatch ${n}`), { name: 'KafkaJSNumberOfRetriesExceeded' });
          batches.push(messages.length);
          return [];
        },
      };
    },
  } as unknown as Kafka;
  return { kafka, log, batches, calls: () => calls, producers: () => producers };
}

/** rows of `keys` keys, `perKey` each, interleaved the way outbox ids interleave: k0:0 k1:0 … k0:1 k1:1 … */
function rows(keys: number, perKey: number, pad = 0): RawRecord[] {
  const out: RawRecord[] = [];
  for (let s = 0; s < perKey; s++) for (let k = 0; k < keys; k++) out.push({ topic: 't', key: `k${k}`, value: Buffer.from(`${s}`.padEnd(pad + 1, ' ')) });
  return out;
}

/** What the outbox relay does: send the rows; on failure wait a little and send the same rows again. */
async function relayLike(p: BatchingProducer, records: RawRecord[]) {
  for (let attempt = 0; ; attempt++) {
    try { await p.sendMany(records); return attempt; } catch { await new Promise((r) => setTimeout(r, 20)); }
  }
}

/** Per key, the order in which each value first appears in the log (duplicates after it are dropped downstream). */
function reorderedKeys(log: Written[]): string[] {
  const seen = new Set<string>();
  const max = new Map<string, number>();
  const bad: string[] = [];
  for (const w of log) {
    const id = `${w.key}/${w.value.trim()}`;
    if (seen.has(id)) continue;
    seen.add(id);
    const s = Number(w.value.trim());
    if (s < (max.get(w.key) ?? -1)) bad.push(`${w.key}: ${s} after ${max.get(w.key)}`);
    max.set(w.key, Math.max(s, max.get(w.key) ?? -1));
  }
  return bad;
}

describe('BatchingProducer order under a failed send', () => {
  it('a sendMany split over several batches: a failed first batch withdraws the later ones, the retry restores order', async () => {
    const f = fakeKafka({ failAt: [1] });
    const p = new BatchingProducer(f.kafka, { maxBatch: 3 });
    const records = rows(3, 4); // 12 records, 4 batches of 3; every key has a row in every batch
    const attempts = await relayLike(p, records);
    expect(attempts).toBe(1);
    // batch 1 failed; batches 2-4 were not sent before the retry (old code: sent at once by the fresh producer,
    // so k0:1 … k2:3 were written before the retried k0:0 k1:0 k2:0)
    expect(reorderedKeys(f.log)).toEqual([]);
    expect(f.log.map((w) => `${w.key}:${w.value}`)).toEqual(records.map((r) => `${r.key}:${r.value}`));
    expect(f.producers()).toBe(2); // a fresh producer after the failure
  });

  it('the same when the failed batch was in fact written (duplicates only, first copies in order)', async () => {
    const f = fakeKafka({ failAt: [2], writeThenFail: true });
    const p = new BatchingProducer(f.kafka, { maxBatch: 2 });
    const records = rows(2, 5);
    await relayLike(p, records);
    expect(reorderedKeys(f.log)).toEqual([]);
    for (const r of records) expect(f.log.some((w) => w.key === r.key && w.value === r.value!.toString())).toBe(true);
  });

  it('the torture window with the default options: once 4 MiB had been sent, every sendMany was split as [first record] + [the rest]', async () => {
    const f = fakeKafka();
    const p = new BatchingProducer(f.kafka);
    // 5 MiB through the producer first (the relay of a long run has sent far more)
    for (let i = 0; i < 5; i++) await p.sendMany(rows(10, 100, 1024));
    const before = f.batches.length;
    await p.sendMany(rows(10, 100)); // 1,000 small records: one batch (the old byte counter never went down: 2 batches, 1 + 999)
    expect(f.batches.slice(before)).toEqual([1000]);

    // and the failure: the first batch of a drain fails, later rows of its keys must not go out first
    const g = fakeKafka({ failAt: [1] });
    const q = new BatchingProducer(g.kafka, { maxBatch: 1000, maxBatchBytes: 64 << 10 }); // a drain bigger than one batch by bytes
    const drain = rows(20, 10, 1024); // 200 KiB: 4 batches
    await relayLike(q, drain);
    expect(reorderedKeys(g.log)).toEqual([]);
    expect(g.log.map((w) => `${w.key}:${w.value}`)).toEqual(drain.map((r) => `${r.key}:${r.value}`));
  });

  it('only the failed sendMany is withdrawn; a single send queued behind it still goes out; the first error is reported', async () => {
    const f = fakeKafka({ failAt: [1] });
    const p = new BatchingProducer(f.kafka, { maxBatch: 2 });
    const many = p.sendMany(rows(1, 6));
    const single = p.send({ topic: 't', key: 'other', value: Buffer.from('0') });
    await expect(many).rejects.toThrow(/injected failure of sendBatch 1/);
    await expect(single).resolves.toBeUndefined();
    expect(f.log.map((w) => w.key)).toEqual(['other']);
    expect(new NotSentError(new Error('x')).message).toMatch(/not sent/);
  });

  it('the byte cap splits by bytes and the pending byte count returns to zero', async () => {
    const f = fakeKafka();
    const p = new BatchingProducer(f.kafka, { maxBatchBytes: 10 * 1024 });
    await p.sendMany(rows(1, 25, 1024)); // 25 x ~1 KiB with a 10 KiB cap
    expect(f.batches).toEqual([9, 9, 7]);
    expect((p as unknown as { pendingBytes: number }).pendingBytes).toBe(0);
  });
});

describe('BatchingProducer state (diagnostics of a stuck send)', () => {
  it('shows the queue, the step the batch in flight is in, the producer generation and the last error', async () => {
    let release: () => void = () => {};
    let producers = 0;
    const kafka = {
      producer: () => {
        const id = ++producers;
        return {
          // the first producer's connect fails; the second one's hangs until released
          connect: () => (id === 1 ? Promise.reject(new Error('coordinator loading')) : new Promise<void>((r) => { release = r; })),
          disconnect: async () => {},
          sendBatch: async () => [],
        };
      },
    } as unknown as Kafka;
    const p = new BatchingProducer(kafka, { maxBatch: 2 });
    await expect(p.send({ topic: 't', key: 'a', value: Buffer.from('1') })).rejects.toThrow(/coordinator loading/);
    const stuck = p.sendMany(rows(1, 3));
    await new Promise((r) => setTimeout(r, 20));
    const s = p.state();
    expect(s).toMatchObject({ queued: 1, inFlight: { records: 2, step: 'connect' }, generation: 2, connected: true });
    expect(s.lastError).toMatch(/coordinator loading/);
    release();
    await stuck;
    expect(p.state()).toMatchObject({ queued: 0, inFlight: null });
  });
});

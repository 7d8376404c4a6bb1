// The finder's event-driven discovery (search.method: events), as Rubin's OODS and ctrl_ingestd take
// arrivals: a consumer of the foreign topic finder.events.topic (storage systems' JSON, not our Avro)
// on the platform consumer runtime, so its offsets and dedupe (by a record-derived id) commit in
// Postgres. Each named file is handled as a scan handles it (finder.takeFile); a record that is not a
// storage event, or names a path outside the buffer (traversal, escape, link, missing), goes to the .dlq.
import pRetry from 'p-retry';
import type { ConsumerSpec, ForeignRecord } from '../../platform/types.ts';
import type { Platform } from '../../platform/runtime.ts';
import type { RunningConsumer } from '../../platform/consumer-runtime.ts';
import { ensureTopics } from '../../platform/kafka.ts';
import { InvalidEventError, TransientError } from '../../platform/errors.ts';
import type { FinderConfig } from '../../domains/ingest/config.ts';
import { parseStorageEvent, resolveEventPath, StorageEventError, type StorageEvent } from '../../domains/ingest/storage-events.ts';
import type { Finder } from './index.ts';

export const STORAGE_EVENTS_CONSUMER = 'finder.ingest';
const STORAGE_EVENT = 'StorageEvent';

/** tries for a file that changes while it is hashed (its writer is not done after all) */
const CHANGING_TRIES = 5;

export function storageEventsConsumer(finder: Finder, cfg: FinderConfig, opts: { retryDelayMs?: number } = {}): ConsumerSpec {
  const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));
  /** A filesystem refusal (permissions, read-only, ...) is the record's reason for the .dlq; anything else
   *  (the broker not acknowledging the finder's events) is retried with backoff, never skipped: the file
   *  may have left the buffer already, and the retry re-drives its journal intent. */
  const take = async (components: string[]) => {
    try {
      return await finder.takeFile(components);
    } catch (err) {
      if (err instanceof TransientError) throw err;
      const code = (err as NodeJS.ErrnoException).code;
      if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) return { refused: `${components.join('/')}: ${(err as Error).message}` };
      throw new TransientError(`finder: ${components.join('/')} not handled: ${(err as Error).message}`, err);
    }
  };
  return {
    kind: 'processor',
    name: STORAGE_EVENTS_CONSUMER,
    topics: [cfg.events.topic],
    decode(record, topic, partition): ForeignRecord {
      let e: StorageEvent;
      try {
        e = parseStorageEvent(record.value, { topic, partition, offset: record.offset, timestamp: Number(record.timestamp) || 0 }, { bucketDir: cfg.events.bucketDir });
      } catch (err) {
        if (err instanceof StorageEventError) throw new InvalidEventError(`not a storage event: ${err.message}`);
        throw err;
      }
      return { name: STORAGE_EVENT, value: e, meta: { eventId: e.eventId, occurredAt: e.occurredAt, correlationId: e.eventId, causationId: null, actor: null, source: 'storage' } };
    },
    async handle(event, ctx) {
      if ((event.name as string) !== STORAGE_EVENT) return;
      const e = event.value as unknown as StorageEvent;
      const refused: string[] = [];
      for (const path of e.paths) {
        const p = resolveEventPath(path, cfg.source);
        if (!p.ok) { refused.push(`${p.code}: ${p.reason}`); continue; }
        let outcome = await take(p.components);
        for (let i = 1; outcome === 'changing' && i < CHANGING_TRIES; i++) {
          await wait(opts.retryDelayMs ?? Math.max(100, cfg.search.stableMs));
          outcome = await take(p.components);
        }
        if (outcome === 'changing') throw new TransientError(`${p.rel} keeps changing; the record is retried`);
        if (typeof outcome === 'object') refused.push(outcome.refused);
        else ctx.log.debug({ file: p.rel, outcome }, 'storage event handled');
      }
      // the files this record names that could be taken are taken; the record itself goes to the .dlq with the rest
      if (refused.length) throw new InvalidEventError(`storage event refused: ${refused.join('; ').slice(0, 1800)}`);
    },
  };
}

/** Creates the storage-events topic and its .dlq when missing (the storage system publishes to it), then
 *  starts the consumer on the platform. */
export async function startStorageEvents(platform: Pick<Platform, 'kafka' | 'config' | 'startConsumer'>, finder: Finder, cfg: FinderConfig): Promise<RunningConsumer> {
  await pRetry(async () => {
    const admin = platform.kafka.admin();
    await admin.connect();
    try { await ensureTopics(admin, platform.config, [{ topic: cfg.events.topic }]); } finally { await admin.disconnect(); }
  }, { retries: 8, minTimeout: 200, maxTimeout: 3000, shouldRetry: ({ error }) => (error as { retriable?: boolean }).retriable !== false });
  return platform.startConsumer(storageEventsConsumer(finder, cfg));
}

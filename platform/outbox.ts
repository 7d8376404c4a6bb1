// The transactional outbox: consumers insert encoded records in their batch transaction; the relay
// publishes them with the idempotent producer and deletes them. The relay reads what is there
// (FOR UPDATE SKIP LOCKED), never "id > last seen", so rows of late-committing transactions are not
// skipped; one relay per database holds an advisory lock so per-key order is kept. NOTIFY wakes it.
// Order under failed sends: a drain's rows go out with one producer.sendMany, in id order, one batch
// after another; if a batch fails, the rest of the drain is withdrawn unsent and sendMany settles only
// when nothing of the drain is in flight, so the rollback + re-read re-sends the failed prefix before
// any later row (releasing the lock to another relay is safe for the same reason). docs/guarantees.md.
import pg from 'pg';
import type { Logger } from 'pino';
import type { Db, Tx } from './db.ts';
import type { BatchingProducer, RawRecord } from './producer.ts';
import { isTransient } from './errors.ts';
import { metrics, setOutboxDepthSource } from './metrics.ts';

const CHANNEL = 'dbb_outbox';
const RELAY_LOCK = 0x0db0_0001;

export async function enqueue(tx: Tx, records: RawRecord[]): Promise<void> {
  if (!records.length) return;
  // one round trip: a data-modifying CTE runs to completion whether or not the SELECT reads it
  await tx.query(
    `WITH ins AS (INSERT INTO platform.outbox (topic, key, value, headers)
       SELECT * FROM unnest($1::text[], $2::bytea[], $3::bytea[], $4::jsonb[]))
     SELECT pg_notify('${CHANNEL}', '')`,
    [records.map((r) => r.topic), records.map((r) => (r.key === null ? null : Buffer.from(r.key))), records.map((r) => r.value),
      records.map((r) => JSON.stringify(encodeHeaders(r.headers)))],
  );
}

// jsonb refuses \u0000: a header string holding NUL goes as its bytes (the same bytes on the wire)
function encodeHeaders(h: RawRecord['headers']): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h ?? {})) {
    if (v === undefined) continue;
    const bytes = Buffer.isBuffer(v) ? v : String(v).includes('\0') ? Buffer.from(String(v)) : null;
    out[k] = bytes ? `b64:${bytes.toString('base64')}` : `s:${String(v)}`;
  }
  return out;
}

function decodeHeaders(h: Record<string, string>): Record<string, string | Buffer> {
  const out: Record<string, string | Buffer> = {};
  for (const [k, v] of Object.entries(h)) out[k] = v.startsWith('b64:') ? Buffer.from(v.slice(4), 'base64') : v.slice(2);
  return out;
}

export interface OutboxRelay { stop(): Promise<void>; published(): number }

export function startOutboxRelay(deps: { databaseUrl: string; db: Db; producer: BatchingProducer; log: Logger; batchSize?: number; idleMs?: number }): OutboxRelay {
  const log = deps.log.child({ component: 'outbox-relay' });
  let stopped = false;
  let published = 0;
  let wake: (() => void) | null = null;
  const sleep = (ms: number) => new Promise<void>((r) => { const t = setTimeout(r, ms); wake = () => { clearTimeout(t); r(); }; });

  const listener = new pg.Client({ connectionString: deps.databaseUrl });
  const listening = listener.connect()
    .then(() => listener.query(`LISTEN ${CHANNEL}`))
    .then(() => listener.on('notification', () => wake?.()))
    .catch((err) => log.warn({ err }, 'outbox LISTEN failed; relay falls back to polling'));
  listener.on('error', (err) => log.warn({ err }, 'outbox listener connection lost; polling'));

  const limit = Math.max(1, Math.floor(Number(deps.batchSize ?? 1000)));
  // two round trips per drain instead of four: BEGIN goes with the SELECT and COMMIT with the DELETE
  // (simple-protocol multi-statement queries, so no parameters: the limit and the ids are integers
  // checked here). Every reply of a request/reply route waits for one drain.
  const ids = (rows: { id: string }[]) => rows.map((r) => { if (!/^\d+$/.test(String(r.id))) throw new Error(`outbox id ${r.id}`); return r.id; }).join(',');
  async function drainOnce(lockClient: pg.PoolClient): Promise<number> {
    try {
      const res = await lockClient.query(`BEGIN; SELECT id, topic, key, value, headers FROM platform.outbox ORDER BY id LIMIT ${limit} FOR UPDATE SKIP LOCKED`) as unknown as pg.QueryResult[];
      const rows = res[1].rows;
      if (rows.length) {
        await deps.producer.sendMany(rows.map((r) => ({ topic: r.topic, key: r.key, value: r.value, headers: decodeHeaders(r.headers) })));
        await lockClient.query(`DELETE FROM platform.outbox WHERE id IN (${ids(rows)}); COMMIT`);
      } else await lockClient.query('COMMIT');
      published += rows.length;
      if (rows.length) metrics.outboxPublished.inc(rows.length);
      return rows.length;
    } catch (err) {
      await lockClient.query('ROLLBACK').catch(() => {});
      throw err;
    }
  }

  setOutboxDepthSource(async () => Number((await deps.db.query('SELECT count(*)::int AS n FROM (SELECT 1 FROM platform.outbox LIMIT 100000) o')).rows[0].n));
  const onClientError = (err: Error) => log.warn({ err }, 'outbox relay connection lost');
  const loop = (async () => {
    await listening;
    let backoff = 100;
    while (!stopped) {
      let client: pg.PoolClient | null = null;
      try {
        client = await deps.db.connect();
        // held for as long as the relay holds the lock, mostly idle: a checked-out pg client has no
        // 'error' listener of the pool's, and an unhandled 'error' event (connection lost between two
        // queries) would end the process instead of failing the next query into the catch below
        client.on('error', onClientError);
        const { rows } = await client.query('SELECT pg_try_advisory_lock($1) AS ok', [RELAY_LOCK]);
        if (!rows[0].ok) { client.removeListener('error', onClientError); client.release(); client = null; await sleep(1000); continue; }
        while (!stopped) {
          const n = await drainOnce(client);
          backoff = 100;
          if (n === 0) await sleep(deps.idleMs ?? 500);
        }
        await client.query('SELECT pg_advisory_unlock($1)', [RELAY_LOCK]);
      } catch (err) {
        (isTransient(err) ? log.warn.bind(log) : log.error.bind(log))({ err }, 'outbox relay failed; retrying');
        await sleep(backoff);
        backoff = Math.min(backoff * 2, 5000);
      } finally {
        // a failed connection is destroyed so the session-level advisory lock is released with it
        client?.removeListener('error', onClientError);
        client?.release(true);
      }
    }
  })();

  return {
    published: () => published,
    async stop() {
      stopped = true;
      setOutboxDepthSource(null);
      wake?.();
      await loop;
      await listener.end().catch(() => {});
    },
  };
}

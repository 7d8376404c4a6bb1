// POST /staging's write-side decision: the job id is reserved in processor_tape.job_ids in the same
// Postgres transaction as the TapeJobRequested outbox row, so an id is accepted exactly once (the
// primary key decides between concurrent requests) and an accepted id always has its event. Reads no projection.
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import { migrateConsumerSchema, quoteIdent, schemaOf, withTx, type Db } from '../../platform/db.ts';
import { newId } from '../../platform/ids.ts';
import type { Appender, AppendOptions, BodyOf } from '../../platform/types.ts';
import { jobKey } from './ids.ts';

// the reservation table is the tape processor's (schema of `processor.tape`, its migrations): both the
// route (here) and the processor (it claims ids from events appended past the route) write it
const SCHEMA = schemaOf('processor.tape');
const MIGRATIONS = fileURLToPath(new URL('../../processors/tape/migrations', import.meta.url));
const migrated = new Map<string, Promise<void>>();

/** The reservation table lives in the processor's schema; the gateway may start before the processor
 *  (or run without it), so it runs the same migrations once per database (node-pg-migrate serializes them). */
function ensureJobIds(databaseUrl: string, log?: Logger): Promise<void> {
  let p = migrated.get(databaseUrl);
  if (!p) {
    p = migrateConsumerSchema(databaseUrl, SCHEMA, MIGRATIONS, log).catch((err) => { migrated.delete(databaseUrl); throw err; });
    migrated.set(databaseUrl, p);
  }
  return p;
}

/** Reserves the job id and appends TapeJobRequested in one transaction; false when the id is taken. */
export async function acceptJobRequest(
  deps: { db: Db; appender: Appender; databaseUrl: string; log?: Logger }, body: BodyOf<'TapeJobRequested'>, opts: AppendOptions = {},
): Promise<boolean> {
  const appendInTx = deps.appender.appendInTx?.bind(deps.appender);
  if (!appendInTx) throw new Error('the tape routes need an appender with appendInTx (platform/producer.ts createAppender)');
  await ensureJobIds(deps.databaseUrl, deps.log);
  const eventId = opts.eventId ?? newId();
  return withTx(deps.db, async (tx) => {
    const { rowCount } = await tx.query(
      `INSERT INTO ${quoteIdent(SCHEMA)}.job_ids (job_id, request_event_id) VALUES ($1, $2) ON CONFLICT (job_id) DO NOTHING`, [body.jobId, eventId]);
    if (!rowCount) return false;
    await appendInTx(tx, 'TapeJobRequested', jobKey(body.jobId), body, { ...opts, eventId });
    return true;
  });
}

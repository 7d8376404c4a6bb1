// The consumers the fault suite tortures: a projection of TortureRecorded (and of the processor's
// outcomes) that records how often and in which order each event was applied, and a processor with
// an external side effect (an INSERT on its own connection, outside the batch transaction, counted
// per effect id) that emits TortureEffectDone through the outbox.
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import pg from 'pg';
import { TOPIC } from '../../schemas/generated/index.ts';
import { InvalidEventError } from '../../platform/errors.ts';
import { is, type ConsumerSpec, type DecodedEvent, type DomainDeps } from '../../platform/types.ts';

const MIGRATIONS = join(dirname(fileURLToPath(import.meta.url)), 'migrations');
export const EXTERNAL_TABLE = 'torture_external.external_effects';

/** The "external system": its own schema, written on its own connections, never in a batch transaction. */
export async function createExternalTable(databaseUrl: string) {
  const c = new pg.Client({ connectionString: databaseUrl });
  await c.connect();
  try {
    await c.query('CREATE SCHEMA IF NOT EXISTS torture_external');
    await c.query(`CREATE TABLE IF NOT EXISTS ${EXTERNAL_TABLE} (effect_id text PRIMARY KEY, key text NOT NULL, seq bigint NOT NULL, count int NOT NULL, last_at timestamptz NOT NULL DEFAULT now())`);
  } finally {
    await c.end();
  }
}

const rejectsRules = (e: DecodedEvent<'TortureRecorded'>) => e.value.value < 0;
const invalid = (e: DecodedEvent<'TortureRecorded'>) => new InvalidEventError(`torture ${e.value.key}/${e.value.seq}: value must be >= 0 (got ${e.value.value})`);

export function createTortureProjection(): ConsumerSpec {
  return {
    name: 'projection.torture',
    kind: 'projection',
    topics: [TOPIC.TORTURE_EVENTS, TOPIC.TORTURE_OUTCOMES],
    migrationsDir: MIGRATIONS,
    async handle(event, { tx }) {
      if (is(event, 'TortureRecorded')) {
        if (rejectsRules(event)) throw invalid(event);
        await tx.query(
          `INSERT INTO applied (event_id, key, seq, value, src_partition, src_offset) VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT (event_id) DO UPDATE SET applied = applied.applied + 1`,
          [event.meta.eventId, event.value.key, event.value.seq, event.value.value, event.partition, event.offset]);
      } else if (is(event, 'TortureEffectDone')) {
        await tx.query(
          `INSERT INTO outcomes (source_event_id, key, seq, reconciled, src_partition, src_offset) VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT (source_event_id) DO UPDATE SET applied = outcomes.applied + 1`,
          [event.value.sourceEventId, event.value.key, event.value.seq, event.value.reconciled, event.partition, event.offset]);
      }
    },
    // same rows as `handle`, one statement per table (apply order = batch order)
    async handleBatch(events, { tx }) {
      const bad: { event: DecodedEvent; error: Error }[] = [];
      const rec: DecodedEvent<'TortureRecorded'>[] = [];
      const out: DecodedEvent<'TortureEffectDone'>[] = [];
      for (const e of events) {
        if (is(e, 'TortureRecorded')) (rejectsRules(e) ? bad.push({ event: e, error: invalid(e) }) : rec.push(e));
        else if (is(e, 'TortureEffectDone')) out.push(e);
      }
      if (rec.length) {
        await tx.query(
          `INSERT INTO applied (event_id, key, seq, value, src_partition, src_offset)
           SELECT e, k, s, v, p, f FROM unnest($1::uuid[], $2::text[], $3::bigint[], $4::bigint[], $5::int[], $6::bigint[]) WITH ORDINALITY AS t(e, k, s, v, p, f, o) ORDER BY o
           ON CONFLICT (event_id) DO UPDATE SET applied = applied.applied + 1`,
          [rec.map((e) => e.meta.eventId), rec.map((e) => e.value.key), rec.map((e) => e.value.seq), rec.map((e) => e.value.value), rec.map((e) => e.partition), rec.map((e) => e.offset)]);
      }
      if (out.length) {
        await tx.query(
          `INSERT INTO outcomes (source_event_id, key, seq, reconciled, src_partition, src_offset)
           SELECT e, k, s, r, p, f FROM unnest($1::uuid[], $2::text[], $3::bigint[], $4::boolean[], $5::int[], $6::bigint[]) WITH ORDINALITY AS t(e, k, s, r, p, f, o) ORDER BY o
           ON CONFLICT (source_event_id) DO UPDATE SET applied = outcomes.applied + 1`,
          [out.map((e) => e.value.sourceEventId), out.map((e) => e.value.key), out.map((e) => e.value.seq), out.map((e) => e.value.reconciled), out.map((e) => e.partition), out.map((e) => e.offset)]);
      }
      return { invalid: bad };
    },
  };
}

/**
 * For every valid TortureRecorded: one external effect through ctx.runEffect (an upsert that counts
 * how often it ran, so a repeated effect is visible), then TortureEffectDone through the outbox.
 * An UNKNOWN outcome (crash between the STARTED mark and DONE) is reconciled: the external system is
 * asked, and the effect is done only if it did not happen.
 */
export function createTortureProcessor(deps: DomainDeps): ConsumerSpec {
  const external = new pg.Pool({ connectionString: deps.config.databaseUrl, max: 2, idleTimeoutMillis: 5000 });
  external.on('error', () => {});
  const perform = (id: string, e: DecodedEvent<'TortureRecorded'>) => external.query(
    `INSERT INTO ${EXTERNAL_TABLE} (effect_id, key, seq, count) VALUES ($1, $2, $3, 1)
     ON CONFLICT (effect_id) DO UPDATE SET count = external_effects.count + 1, last_at = now()`, [id, e.value.key, e.value.seq]);
  return {
    name: 'processor.torture',
    kind: 'processor',
    topics: [TOPIC.TORTURE_EVENTS],
    async handle(event, ctx) {
      if (!is(event, 'TortureRecorded') || rejectsRules(event)) return;
      const effectId = `torture-${event.meta.eventId}`;
      const outcome = await ctx.runEffect(effectId, async () => { await perform(effectId, event); return { ok: true }; });
      let reconciled = false;
      if (outcome.status === 'UNKNOWN') {
        const { rowCount } = await external.query(`SELECT 1 FROM ${EXTERNAL_TABLE} WHERE effect_id = $1`, [effectId]);
        if (!rowCount) await perform(effectId, event);
        await ctx.tx.query(`UPDATE effects SET state = 'DONE', result = '{"ok":true}', done_at = now() WHERE effect_id = $1`, [effectId]);
        reconciled = true;
        ctx.log.info({ effectId, found: Boolean(rowCount) }, 'torture effect reconciled');
      }
      await ctx.emit('TortureEffectDone', event.key, { sourceEventId: event.meta.eventId, key: event.value.key, seq: event.value.seq, reconciled });
    },
  };
}

/** Projection + processor in one process (spawnConsumers factory). */
export const createTortureConsumers = (deps: DomainDeps) => [createTortureProjection(), createTortureProcessor(deps)];
/** No consumers: the child runs only the platform's outbox relay (spawnConsumers factory). */
export const createRelayOnly = () => [];

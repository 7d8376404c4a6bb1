// Wiring of the staging processor: consumes dbb.staging.requests, runs each StagingRequested's (or rerun's)
// effect through ctx.runEffect (reconciling an UNKNOWN outcome) and emits FileStaged/StagingFailed.
// Rules live in rules.ts, side effects in effects.ts; nothing here decides anything.
import { dirname, join } from 'node:path';
import type pg from 'pg';
import { fileURLToPath } from 'node:url';
import { InvalidEventError } from '../../platform/errors.ts';
import { is, type ConsumerSpec, type DecodedEvent, type DomainDeps, type HandlerContext } from '../../platform/types.ts';
import { TOPIC } from '../../schemas/generated/index.ts';
import { loadStagingConfig, type StagingConfig } from '../../domains/staging/config.ts';
import { EFFECTS, REPEATABLE, reconcile, type EffectDeps, type EffectResult } from './effects.ts';
import { decide, evolve, initialState, type Output, type RuleContext, type StagingEvent, type StagingInput, type StagingState } from './rules.ts';

export const NAME = 'processor.staging';
/** Requests handled at once within one sub-batch. */
const BATCH_CONCURRENCY = 32;

type States = Map<string, StagingState>;

async function loadStates(tx: pg.PoolClient, ids: string[]): Promise<States> {
  const { rows } = await tx.query('SELECT request_id, state FROM staging_state WHERE request_id = ANY($1::text[])', [ids]);
  return new Map(rows.map((r) => [r.request_id as string, r.state as StagingState]));
}

async function saveStates(tx: pg.PoolClient, states: States): Promise<void> {
  if (!states.size) return;
  await tx.query(
    `INSERT INTO staging_state (request_id, state)
     SELECT * FROM unnest($1::text[], $2::jsonb[])
     ON CONFLICT (request_id) DO UPDATE SET state = EXCLUDED.state, updated_at = now()`,
    [[...states.keys()], [...states.values()].map((st) => JSON.stringify(st))],
  );
}

export function createStagingProcessor(deps: DomainDeps, opts: { cfg?: StagingConfig } = {}): ConsumerSpec {
  const cfg = opts.cfg ?? loadStagingConfig(deps.env);
  const effectDeps: EffectDeps = { cfg, now: Date.now };

  /** Handles one request against `states` (loaded for the batch, saved by the caller). */
  async function handleOne(event: DecodedEvent, ctx: HandlerContext, states: States): Promise<void> {
    let input: StagingInput;
    let applied: StagingEvent;
    if (is(event, 'StagingRequested')) {
      input = { type: 'StagingRequested', value: event.value };
      applied = { name: 'StagingRequested', value: event.value };
    } else if (is(event, 'StagingRerunRequested')) {
      input = { type: 'StagingRerunRequested', value: event.value };
      applied = { name: 'StagingRerunRequested', value: event.value };
    } else return; // our own outcomes share the topic
    const v = event.value;
    const rctx: RuleContext = { now: event.meta.occurredAt, allowedMethods: cfg.allowedMethods, storageRoot: cfg.storageRoot };
    let state = states.get(v.requestId) ?? initialState();
    const queue: Output[] = decide(input, state, rctx);
    // an ignored or refused input leaves the state as it was
    const refused = queue[0]?.kind === 'emit' && queue[0].event.name === 'StagingRerunRefused';
    if (queue[0]?.kind !== 'ignore' && !refused) state = evolve(state, applied);
    while (queue.length) {
      const out = queue.shift()!;
      if (out.kind === 'ignore') {
        ctx.log.debug({ requestId: v.requestId, reason: out.reason }, 'staging input ignored');
      } else if (out.kind === 'emit') {
        await ctx.emit(out.event.name, v.requestId, out.event.value as never);
        state = evolve(state, out.event);
      } else {
        const outcome = await ctx.runEffect<EffectResult>(out.effectId, () => EFFECTS[out.effect.kind](out.effect, effectDeps), { idempotent: REPEATABLE.has(out.effect.kind) });
        let result: StagingInput;
        if (outcome.status === 'DONE') result = { type: 'EffectCompleted', effect: out.effect, result: outcome.result };
        else {
          ctx.log.warn({ requestId: v.requestId, effectId: out.effectId }, 'staging effect outcome unknown after a crash; reconciling');
          result = { type: 'EffectReconciled', effect: out.effect, result: await reconcile(out.effect, effectDeps) };
        }
        queue.push(...decide(result, state, rctx));
      }
    }
    states.set(v.requestId, state);
  }

  return {
    name: NAME,
    kind: 'processor',
    topics: [TOPIC.STAGING_REQUESTS],
    migrationsDir: join(dirname(fileURLToPath(import.meta.url)), 'migrations'),
    async handle(event, ctx) {
      const invalid = invalidReason(event);
      if (invalid) throw invalid;
      if (!isInput(event)) return;
      const states = await loadStates(ctx.tx, [event.key]);
      await handleOne(event, ctx, states);
      await saveStates(ctx.tx, states);
    },
    // Requests of different ids are independent: run them concurrently (their effects and STARTED
    // marks overlap), the events of one id in order. Queries on the shared tx are queued by pg.
    async handleBatch(events, ctx) {
      const invalid: { event: DecodedEvent; error: Error }[] = [];
      const byKey = new Map<string, DecodedEvent[]>();
      for (const e of events) {
        const error = invalidReason(e);
        if (error) invalid.push({ event: e, error });
        else byKey.set(e.key, [...(byKey.get(e.key) ?? []), e]);
      }
      const groups = [...byKey.values()].filter((g) => g.some(isInput));
      if (!groups.length) return { invalid };
      const states = await loadStates(ctx.tx, groups.map((g) => g[0]!.key));
      let next = 0;
      await Promise.all(Array.from({ length: Math.min(BATCH_CONCURRENCY, groups.length) }, async () => {
        while (next < groups.length) for (const e of groups[next++]!) await handleOne(e, ctx.forEvent(e), states);
      }));
      await saveStates(ctx.tx, states);
      return { invalid };
    },
  };
}

const isInput = (e: DecodedEvent) => is(e, 'StagingRequested') || is(e, 'StagingRerunRequested');

function invalidReason(event: DecodedEvent): InvalidEventError | null {
  if (!isInput(event)) return null;
  const v = event.value as { requestId: string };
  return !v.requestId || v.requestId !== event.key ? new InvalidEventError(`${event.name} key ${event.key} != requestId ${v.requestId}`) : null;
}

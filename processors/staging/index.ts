// Wiring of the staging processor: consumes dbb.staging.requests, runs each StagingRequested's
// effect through ctx.runEffect (reconciling an UNKNOWN outcome) and emits FileStaged/StagingFailed.
// Rules live in rules.ts, side effects in effects.ts; nothing here decides anything.
import { dirname, join } from 'node:path';
import type pg from 'pg';
import { fileURLToPath } from 'node:url';
import { InvalidEventError } from '../../platform/errors.ts';
import { is, type ConsumerSpec, type DecodedEvent, type DomainDeps, type HandlerContext } from '../../platform/types.ts';
import { TOPIC } from '../../schemas/generated/index.ts';
import { loadStagingConfig, type StagingConfig } from './config.ts';
import { EFFECTS, reconcile, type EffectDeps, type EffectResult } from './effects.ts';
import { decide, evolve, initialState, type Output, type RuleContext, type StagingInput, type StagingState } from './rules.ts';

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
    if (!is(event, 'StagingRequested')) return; // our own outcomes share the topic
    const v = event.value;
    const rctx: RuleContext = { now: event.meta.occurredAt, allowedMethods: cfg.allowedMethods, storageRoot: cfg.storageRoot };
    let state = states.get(v.requestId) ?? initialState();
    const queue: Output[] = decide({ type: 'StagingRequested', value: v }, state, rctx);
    if (queue[0]?.kind !== 'ignore') state = evolve(state, { name: 'StagingRequested', value: v });
    while (queue.length) {
      const out = queue.shift()!;
      if (out.kind === 'ignore') {
        ctx.log.debug({ requestId: v.requestId, reason: out.reason }, 'staging input ignored');
      } else if (out.kind === 'emit') {
        await ctx.emit(out.event.name, v.requestId, out.event.value as never);
        state = evolve(state, out.event);
      } else {
        const outcome = await ctx.runEffect<EffectResult>(out.effectId, () => EFFECTS[out.effect.kind](out.effect, effectDeps));
        let input: StagingInput;
        if (outcome.status === 'DONE') input = { type: 'EffectCompleted', effect: out.effect, result: outcome.result };
        else {
          ctx.log.warn({ requestId: v.requestId, effectId: out.effectId }, 'staging effect outcome unknown after a crash; reconciling');
          input = { type: 'EffectReconciled', effect: out.effect, result: await reconcile(out.effect, effectDeps) };
        }
        queue.push(...decide(input, state, rctx));
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
      if (!is(event, 'StagingRequested')) return;
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
      const groups = [...byKey.values()].filter((g) => g.some((e) => is(e, 'StagingRequested')));
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

function invalidReason(event: DecodedEvent): InvalidEventError | null {
  if (!is(event, 'StagingRequested')) return null;
  const v = event.value;
  return !v.requestId || v.requestId !== event.key ? new InvalidEventError(`StagingRequested key ${event.key} != requestId ${v.requestId}`) : null;
}

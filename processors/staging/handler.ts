// The staging processor's handler: loads the requests' states, runs StagingRequested / StagingRerunRequested
// through the rules in the one decider loop (platform/decider.ts), each planned effect once through the
// effect ledger (an UNKNOWN outcome reconciled), and saves the states, in the batch transaction.
import { jsonStateTable } from '../../platform/state-table.ts';
import { deciderLoop } from '../../platform/decider.ts';
import { InvalidEventError } from '../../platform/errors.ts';
import { is, type DecodedEvent, type HandlerContext } from '../../platform/types.ts';
import type { StagingConfig } from '../../domains/staging/config.ts';
import { EFFECTS, REPEATABLE, reconcile, type EffectDeps, type EffectResult } from './effects.ts';
import {
  decide, evolve, evolveInput, initialState,
  type OutcomeEvent, type RuleContext, type StagingEffect, type StagingInput, type StagingState,
} from './rules.ts';

/** Requests decided at once within one batch (their effects and STARTED marks overlap; queries on the
 *  shared transaction are queued by pg). */
const BATCH_CONCURRENCY = 32;


const states = jsonStateTable<StagingState>('staging_state', 'request_id', initialState);

export const isInput = (e: DecodedEvent) => is(e, 'StagingRequested') || is(e, 'StagingRerunRequested');

/** Why a request cannot be handled (dead-lettered): its key is not its request id. */
export function invalidReason(event: DecodedEvent): InvalidEventError | null {
  if (!isInput(event)) return null;
  const v = event.value as { requestId: string };
  return !v.requestId || v.requestId !== event.key ? new InvalidEventError(`${event.name} key ${event.key} != requestId ${v.requestId}`) : null;
}

/** The request an event carries, keyed by its request id; null for our own outcomes (they share the topic). */
function inputOf(event: DecodedEvent): { key: string; input: StagingInput } | null {
  const invalid = invalidReason(event);
  if (invalid) throw invalid;
  if (is(event, 'StagingRequested')) return { key: event.key, input: { name: 'StagingRequested', value: event.value } };
  if (is(event, 'StagingRerunRequested')) return { key: event.key, input: { name: 'StagingRerunRequested', value: event.value } };
  return null;
}

/** Runs a staging effect once (ledger id from the rules); an outcome unknown after a crash is reconciled, never redone. */
async function perform(effect: StagingEffect, ctx: HandlerContext, fx: EffectDeps): Promise<StagingInput> {
  const outcome = await ctx.runEffect<EffectResult>(effect.effectId, () => EFFECTS[effect.kind](effect, fx), { idempotent: REPEATABLE.has(effect.kind) });
  if (outcome.status === 'DONE') return { name: 'EffectCompleted', effect, result: outcome.result };
  ctx.log.warn({ requestId: effect.requestId, effectId: effect.effectId }, 'staging effect outcome unknown after a crash; reconciling');
  return { name: 'EffectReconciled', effect, result: await reconcile(effect, fx) };
}

/** The staging processor's handler: the rules around the one decider loop. */
export function stagingHandler(cfg: StagingConfig, fx: EffectDeps) {
  return deciderLoop<StagingState, StagingInput, OutcomeEvent, StagingEffect, RuleContext>({
    decider: { decide, evolve, evolveInput },
    inputOf,
    load: (tx, ids) => states.load(tx, ids),
    save: (tx, changed) => states.save(tx, changed),
    context: (event) => ({ now: event.meta.occurredAt, allowedMethods: cfg.allowedMethods, storageRoot: cfg.storageRoot }),
    perform: (effect, ctx) => perform(effect, ctx, fx),
    concurrency: BATCH_CONCURRENCY,
  });
}

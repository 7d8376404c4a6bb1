// The staging processor's handler: loads the requests' states, runs StagingRequested / StagingRerunRequested /
// StagingStarted through the rules in the one decider loop (platform/decider.ts), each planned copy once
// through the effect ledger (an UNKNOWN outcome reconciled), the per-user slots in the batch transaction
// (slots.ts), notify_url POSTs through the ledger too, and saves the states, in the batch transaction.
import { jsonStateTable } from '../../platform/state-table.ts';
import { deciderLoop } from '../../platform/decider.ts';
import { InvalidEventError } from '../../platform/errors.ts';
import { is, type DecodedEvent, type HandlerContext } from '../../platform/types.ts';
import type { StagingConfig } from '../../domains/staging/config.ts';
import { deliverWebhook, type WebhookPolicy, type WebhookResult } from '../../platform/webhook.ts';
import { EFFECTS, REPEATABLE, reconcile, type EffectDeps, type EffectResult } from './effects.ts';
import { acquireSlot, releaseSlot } from './slots.ts';
import {
  decide, evolve, evolveInput, initialState, update,
  type CopyEffect, type OutcomeEvent, type RuleContext, type SlotHeld, type StagingEffect, type StagingInput, type StagingState,
} from './rules.ts';

/** Requests decided at once within one batch (their effects and STARTED marks overlap; queries on the
 *  shared transaction are queued by pg). */
const BATCH_CONCURRENCY = 32;


const states = jsonStateTable<StagingState>('staging_state', 'request_id', initialState);

export const isInput = (e: DecodedEvent) => is(e, 'StagingRequested') || is(e, 'StagingRerunRequested') || is(e, 'StagingStarted');

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
  if (is(event, 'StagingStarted')) return { key: event.key, input: { name: 'StagingStarted', value: event.value } };
  return null;
}

/** Runs a staging effect once (ledger id from the rules); an outcome unknown after a crash is reconciled, never redone. */
async function copy(effect: CopyEffect, ctx: HandlerContext, fx: EffectDeps): Promise<StagingInput> {
  const outcome = await ctx.runEffect<EffectResult>(effect.effectId, () => EFFECTS[effect.kind](effect, fx), { idempotent: REPEATABLE.has(effect.kind) });
  if (outcome.status === 'DONE') return { name: 'EffectCompleted', effect, result: outcome.result };
  ctx.log.warn({ requestId: effect.requestId, effectId: effect.effectId }, 'staging effect outcome unknown after a crash; reconciling');
  return { name: 'EffectReconciled', effect, result: await reconcile(effect, fx) };
}

/** POSTs the outcome once per delivery id; after a crash mid-delivery it is sent again with the same
 *  Idempotency-Key / webhook-id, so the receiver drops a duplicate. */
async function notify(effect: Extract<StagingEffect, { kind: 'notify' }>, ctx: HandlerContext, policy: WebhookPolicy, fx: EffectDeps): Promise<StagingInput> {
  const send = () => deliverWebhook(effect.notifyUrl, effect.deliveryId, effect.body, policy, { now: fx.now });
  const o = await ctx.runEffect<WebhookResult>(`staging.notify:${effect.deliveryId}`, send);
  let result = o.status === 'DONE' ? o.result : null;
  if (!result) {
    ctx.log.warn({ requestId: effect.requestId, deliveryId: effect.deliveryId }, 'notify_url outcome unknown after a crash; resending with the same Idempotency-Key');
    result = await send();
  }
  if (!result.ok) ctx.log.warn({ requestId: effect.requestId, deliveryId: effect.deliveryId, attempts: result.attempts, error: result.error }, 'notify_url delivery failed');
  return { name: 'NotifyDone', effect, result };
}

async function perform(effect: StagingEffect, ctx: HandlerContext, policy: WebhookPolicy, fx: EffectDeps): Promise<StagingInput> {
  switch (effect.kind) {
    case 'acquireSlot': return { name: 'SlotAcquired', effect, ...(await acquireSlot(ctx.tx, effect.username, effect.requestId, effect.cap)) };
    case 'releaseSlot': {
      const next = await releaseSlot(ctx.tx, effect.username, effect.requestId);
      // the freed slot is the next waiting request's now: it starts when the processor reads this event
      if (next) await ctx.emit('StagingStarted', next, { requestId: next, username: effect.username, after: effect.requestId }, { correlationId: next });
      return { name: 'SlotReleased' };
    }
    case 'notify': return notify(effect, ctx, policy, fx);
    default: return copy(effect, ctx, fx);
  }
}

/** The staging processor's handler: the rules around the one decider loop. */
export function stagingHandler(cfg: StagingConfig, fx: EffectDeps, policy: WebhookPolicy) {
  return deciderLoop<StagingState, StagingInput, OutcomeEvent, StagingEffect, RuleContext, SlotHeld>({
    decider: { decide, evolve, evolveInput, update },
    inputOf,
    load: (tx, ids) => states.load(tx, ids),
    save: (tx, changed) => states.save(tx, changed),
    context: (event) => ({ now: event.meta.occurredAt, allowedMethods: cfg.allowedMethods, storageRoot: cfg.storageRoot, maxActivePerUser: cfg.maxActivePerUser }),
    perform: (effect, ctx) => perform(effect, ctx, policy, fx),
    concurrency: BATCH_CONCURRENCY,
  });
}

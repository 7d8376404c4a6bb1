// The ingest processor's handler: loads the files' states, runs dbb.ingest.files events through the rules
// in the one decider loop (platform/decider.ts), each attempt once through the effect ledger (an attempt
// interrupted by a crash reconciled), quarantine moves as idempotent effects, and saves the states, in
// the batch transaction.
import { jsonStateTable } from '../../platform/state-table.ts';
import { deciderLoop } from '../../platform/decider.ts';
import { InvalidEventError } from '../../platform/errors.ts';
import type { DecodedEvent, HandlerContext } from '../../platform/types.ts';
import { isIngestEvent, type IngestEvent } from '../../domains/ingest/status.ts';
import { reconcileIngest, runIngest, type IngestEffectDeps } from './effects.ts';
import { quarantineFile, restoreFile } from './quarantine.ts';
import {
  decide, evolveInput, evolveOutcome, initialState,
  type Effect, type FileState, type IngestEffect, type IngestInput, type OutcomeEvent, type RuleContext,
} from './rules.ts';


const states = jsonStateTable<FileState>('file_state', 'file_id', initialState);

/** The event as an input keyed by its file id; null for status-less finder events and our own outputs
 *  (already evolved when appended): they need no state read. */
function inputOf(event: DecodedEvent): { key: string; input: IngestInput } | null {
  if (!isIngestEvent(event)) return null;
  if (event.name === 'FileDiscovered' || event.name === 'DuplicateFound' || event.name === 'IngestQueued' || event.name === 'IngestAttempted'
    || event.name === 'FileQuarantined' || event.name === 'FileRestored') return null;
  const input = { name: event.name, value: event.value } as IngestEvent;
  if (!input.value.fileId) throw new InvalidEventError(`${input.name} without fileId`);
  return { key: input.value.fileId, input };
}

/** Quarantine and restore check both places before acting (idempotent); an attempt runs once per effect id. */
async function perform(effect: Effect, ctx: HandlerContext, fx: () => IngestEffectDeps): Promise<IngestInput> {
  if (effect.kind === 'quarantine') {
    const outcome = await ctx.runEffect(effect.effectId, () => quarantineFile(effect), { idempotent: true });
    const result = outcome.status === 'DONE' ? outcome.result : { ok: false as const, error: 'outcome unknown' };
    if (!result.ok) ctx.log.error({ fileId: effect.fileId, error: result.error }, 'ingest: a failed file could not be quarantined; it stays in storage');
    return { name: 'QuarantineDone', effect, result };
  }
  if (effect.kind === 'restore') {
    const outcome = await ctx.runEffect(effect.effectId, () => restoreFile(effect), { idempotent: true });
    return { name: 'RestoreDone', effect, result: outcome.status === 'DONE' ? outcome.result : { ok: false, error: 'outcome unknown' } };
  }
  return attempt(effect, ctx, fx);
}

/** Runs one attempt once per effect id; an attempt a crash interrupted is reconciled (plugin lookup, else UNKNOWN). */
async function attempt(effect: IngestEffect, ctx: HandlerContext, fx: () => IngestEffectDeps): Promise<IngestInput> {
  // a repeatable plugin's attempt after a crash finds its own outcome, so it skips the ledger's round trips
  const outcome = await ctx.runEffect(effect.effectId, () => runIngest(effect, fx()), { idempotent: fx().plugin.repeatable === true });
  const result = outcome.status === 'DONE' ? outcome.result : await reconcileIngest(effect, fx());
  if (outcome.status === 'UNKNOWN') ctx.log.warn({ fileId: effect.fileId, attempt: effect.attempt, status: result.status }, 'ingest attempt interrupted by a crash; reconciled');
  return { name: 'IngestAttemptDone', effect, result };
}

/** Files decided at once in a batch with a repeatable plugin (Registry): all of a fetched batch, so the
 *  plugin registers them together. A plugin with a ledger keeps `ingester.concurrency`: each decided file
 *  writes its STARTED mark before its attempt waits for the plugin's limiter, and a crash would turn every
 *  waiting one into an UNKNOWN that never ran. */
export const BATCH_CONCURRENCY = 1000;

/** The ingest processor's handler. `fx` is called when an attempt runs (the plugin starts lazily);
 *  `concurrency`: files decided at once in a batch for a plugin that is not repeatable. */
export function ingestHandler(plugin: string, fx: () => IngestEffectDeps, concurrency: number, quarantine: string | null = null) {
  return deciderLoop<FileState, IngestInput, OutcomeEvent, Effect, RuleContext>({
    decider: { decide, evolve: evolveOutcome, evolveInput },
    inputOf,
    load: (tx, ids) => states.load(tx, ids),
    save: (tx, changed) => states.save(tx, changed),
    context: (event) => ({ now: event.meta.occurredAt, eventId: event.meta.eventId, plugin, quarantine }),
    perform: (effect, ctx) => perform(effect, ctx, fx),
    // read per batch (the plugin is made on first use)
    get concurrency() { return fx().plugin.repeatable ? Math.max(BATCH_CONCURRENCY, concurrency) : concurrency; },
  });
}

// The gw processor's handler: loads the datastores' states, runs gw requests through the rules in the
// one decider loop (platform/decider.ts) and saves the states, in the batch transaction. Input topic
// dbb.gw.requests; outputs on dbb.gw.datastore.
import { jsonStateTable } from '../../platform/state-table.ts';
import { InvalidEventError } from '../../platform/errors.ts';
import type { DecodedEvent, HandlerContext } from '../../platform/types.ts';
import type { GwConfig } from '../../domains/gw/config.ts';
import { archiveBatch, discardChunk, findArchivedBatch, storeChunk, type EffectDeps } from './effects.ts';
import { decide, evolve, initialState, type GwEffect, type GwInput, type GwState, type OutcomeEvent, type RuleContext } from './rules.ts';
import { deciderLoop } from '../../platform/decider.ts';


const states = jsonStateTable<GwState>('datastores', 'datastore_id', initialState, { lock: true });

type RequestInput = Extract<GwInput, { name: 'GwChunkReceived' | 'TrainRequested' | 'BufferFlushRequested' }>;

/** The request an event carries, or null for anything else (ignored). Throws on a key mismatch. */
function toInput(event: DecodedEvent): RequestInput | null {
  switch (event.name) {
    case 'GwChunkReceived':
    case 'TrainRequested':
    case 'BufferFlushRequested': {
      const input = { name: event.name, value: event.value } as RequestInput;
      if (input.value.datastoreId !== event.key) throw new InvalidEventError(`event for datastore ${input.value.datastoreId} carries key ${event.key}`);
      return input;
    }
    default:
      return null;
  }
}

/** Carries out one effect and returns its result as the next input for the rules. */
async function runGwEffect(effect: GwEffect, effectId: string, ctx: HandlerContext, fx: EffectDeps): Promise<GwInput> {
  if (effect.kind === 'storeChunk') {
    // Idempotent by construction, so no ledger marks (they were two synchronous commits per chunk):
    // the file name is deterministic and the rename atomic, so "did it happen?" is a stat. storeChunk
    // checks first and reports a file it finds (a redelivery after a crash) as reconciled.
    const out = await ctx.runEffect(effectId, () => storeChunk(effect, fx), { idempotent: true });
    if (out.status !== 'DONE') throw new Error(`idempotent effect ${effectId} came back ${out.status}`);
    const done = out.result;
    if (done.reconciled) ctx.log.warn({ effectId, file: effect.fileName }, 'chunk file already written (redelivery after a crash); reporting it');
    return { name: 'ChunkWritten', effect, bytes: done.bytes, reconciled: done.reconciled };
  }
  if (effect.kind === 'discardChunk') {
    await discardChunk(effect, fx); // idempotent: a file already gone is fine
    return { name: 'ChunkDiscarded' };
  }
  const out = await ctx.runEffect(effectId, () => archiveBatch(effect, fx));
  let done = out.status === 'DONE' ? out.result : await findArchivedBatch(effect, fx);
  if (!done) {
    ctx.log.warn({ effectId, archive: effect.archiveName }, 'archive outcome unknown and archive missing; archiving now');
    done = { ...(await archiveBatch(effect, fx)), reconciled: true };
  } else if (out.status === 'UNKNOWN') ctx.log.warn({ effectId, archive: effect.archiveName }, 'archive outcome unknown; archive found, reporting it');
  return { name: 'BatchArchived', effect, ...done };
}

/** The gw processor's handler: the rules around the one decider loop. */
export function gwHandler(gw: GwConfig, fx: EffectDeps) {
  const loop = deciderLoop<GwState, GwInput, OutcomeEvent, GwEffect, RuleContext>({
    decider: { decide, evolve },
    inputOf(event) {
      const input = toInput(event);
      return input && { key: input.value.datastoreId, input };
    },
    load: (tx, ids) => states.load(tx, ids),
    save: (tx, changed) => states.save(tx, changed),
    context: (event) => ({ now: event.meta.occurredAt, maxSize: gw.maxSize }),
    perform: (effect, ctx, event, n) => runGwEffect(effect, `gw.${effect.kind}.${event.meta.eventId}.${n}`, ctx, fx),
  });
  return { handle: loop.handle, handleBatch: loop.handleBatch };
}

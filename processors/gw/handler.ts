// The gw processor's handler: loads the datastores' states, runs gw requests through the rules in the
// one decider loop (platform/decider.ts) and saves the states, in the batch transaction. Input topic
// dbb.gw.requests; outputs on dbb.gw.datastore.
import { jsonStateTable } from '../../platform/state-table.ts';
import { InvalidEventError } from '../../platform/errors.ts';
import type { DecodedEvent, HandlerContext } from '../../platform/types.ts';
import type { GwConfig } from '../../domains/gw/config.ts';
import { join } from 'node:path';
import { archiveBatch, discardChunk, discardPrewritten, findArchivedBatch, storeChunk, type EffectDeps } from './effects.ts';
import { datastorePaths } from '../../domains/gw/paths.ts';
import type { FormatPool, Prewritten } from './format-pool.ts';
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
async function runGwEffect(effect: GwEffect, effectId: string, ctx: HandlerContext, fx: EffectDeps, prewritten?: Promise<Prewritten | null>): Promise<GwInput> {
  if (effect.kind === 'storeChunk') {
    // Idempotent by construction, so no ledger marks (they were two synchronous commits per chunk):
    // the file name is deterministic and the rename atomic, so "did it happen?" is a stat. storeChunk
    // checks first and reports a file it finds (a redelivery after a crash) as reconciled.
    const out = await ctx.runEffect(effectId, () => storeChunk(effect, fx, prewritten), { idempotent: true });
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

let attempt = 0;

/** Starts formatting and writing (as temp files, on the pool's worker threads) every chunk the batch
 *  will likely store (datastore OPERATIONAL at the start), all at once; the rules still decide each one
 *  in order, and storing one is then a rename. A refused chunk's temp file is removed. */
function prewrite(inputs: { event: DecodedEvent; input: RequestInput }[], states: Map<string, GwState>, pool: FormatPool | undefined, fx: EffectDeps) {
  const out = new Map<string, Promise<Prewritten | null>>();
  if (!pool?.size) return out;
  // unique per attempt: a batch retried while an earlier attempt's write is still running never shares a file with it
  const tag = `${process.pid}.${attempt++}`;
  for (const { event, input } of inputs) {
    if (input.name !== 'GwChunkReceived' || states.get(input.value.datastoreId)?.status !== 'OPERATIONAL') continue;
    const v = input.value;
    // a chunk in a file (the gateway formatted and wrote it) is stored with a rename: nothing to prepare
    if (v.file !== null || v.h.length === 0 || v.h.length % 8 !== 0 || v.h.length / 8 !== v.nSamples) continue;
    const tmp = join(datastorePaths(fx.root, v.datastoreId).tmp, `${event.meta.eventId}.${tag}.tmp`);
    out.set(event.meta.eventId, pool.write(v.h, v.t0, v.dt, fx.format ?? 'json', tmp, fx.fsync));
  }
  return out;
}

/** The gw processor's handler: the rules around the one decider loop. */
export function gwHandler(gw: GwConfig, fx: EffectDeps, pool?: FormatPool) {
  // by event id, across batches: partitions' batches run concurrently, each takes only its own chunks
  const prewritten = new Map<string, Promise<Prewritten | null>>();
  const take = (eventId: string) => {
    const p = prewritten.get(eventId);
    prewritten.delete(eventId);
    return p;
  };
  const loop = deciderLoop<GwState, GwInput, OutcomeEvent, GwEffect, RuleContext>({
    decider: { decide, evolve },
    inputOf(event) {
      const input = toInput(event);
      return input && { key: input.value.datastoreId, input };
    },
    load: (tx, ids) => states.load(tx, ids),
    save: (tx, changed) => states.save(tx, changed),
    context: (event) => ({ now: event.meta.occurredAt, maxSize: gw.maxSize }),
    perform: (effect, ctx, event, n) => runGwEffect(effect, `gw.${effect.kind}.${event.meta.eventId}.${n}`, ctx, fx, effect.kind === 'storeChunk' ? take(event.meta.eventId) : undefined),
    prepare(inputs, states) {
      for (const [id, p] of prewrite(inputs as { event: DecodedEvent; input: RequestInput }[], states, pool, fx)) prewritten.set(id, p);
    },
  });
  return {
    handle: loop.handle,
    async handleBatch(...args: Parameters<typeof loop.handleBatch>) {
      try {
        return await loop.handleBatch(...args);
      } finally {
        // written but not stored (refused after a /train in the same batch, or the batch failed): removed
        for (const e of args[0]) discardPrewritten(take(e.meta.eventId));
      }
    },
  };
}

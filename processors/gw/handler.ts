// Runs one gw request through the rules: loads the datastore's state, carries out the outputs (effects
// through ctx.runEffect, outcomes through ctx.emit), evolves the state with every outcome and saves it,
// all in the batch transaction. Input topic dbb.gw.requests; outputs on dbb.gw.datastore.
import { InvalidEventError } from '../../platform/errors.ts';
import type { DecodedEvent, HandlerContext } from '../../platform/types.ts';
import type { GwConfig } from './config.ts';
import { archiveBatch, findArchivedBatch, findStoredChunk, storeChunk, type EffectDeps } from './effects.ts';
import { decide, evolve, initialState, type GwEffect, type GwInput, type GwState, type Output, type RuleContext } from './rules.ts';

async function loadState(ctx: HandlerContext, id: string): Promise<GwState> {
  const { rows } = await ctx.tx.query('SELECT state FROM datastores WHERE datastore_id = $1 FOR UPDATE', [id]);
  return rows[0] ? { ...initialState(), ...rows[0].state } : initialState();
}

async function saveState(ctx: HandlerContext, id: string, state: GwState) {
  await ctx.tx.query(
    `INSERT INTO datastores (datastore_id, state, updated_at) VALUES ($1, $2, now())
     ON CONFLICT (datastore_id) DO UPDATE SET state = EXCLUDED.state, updated_at = now()`, [id, JSON.stringify(state)]);
}

type RequestInput = Extract<GwInput, { name: 'GwChunkReceived' | 'TrainRequested' | 'BufferFlushRequested' }>;

function toInput(event: DecodedEvent): RequestInput | null {
  switch (event.name) {
    case 'GwChunkReceived':
    case 'TrainRequested':
    case 'BufferFlushRequested':
      return { name: event.name, value: event.value } as RequestInput;
    default:
      return null;
  }
}

/** Runs an effect at most once; after a crash mid-effect (UNKNOWN) it looks at the disk instead. */
async function runGwEffect(effect: GwEffect, effectId: string, ctx: HandlerContext, fx: EffectDeps): Promise<GwInput> {
  if (effect.kind === 'storeChunk') {
    // Not through ctx.runEffect: its STARTED mark is a synchronous commit per chunk (a third of the
    // processor's time per chunk), and it would tell nothing the disk does not. The file name is
    // deterministic and the rename atomic, so "did it happen?" is a stat: storeChunk checks first and
    // reports a file it finds (after a crash) as reconciled instead of writing it again.
    const done = await storeChunk(effect, fx);
    if (done.reconciled) ctx.log.warn({ effectId, file: effect.fileName }, 'chunk file already written (redelivery after a crash); reporting it');
    return { name: 'ChunkWritten', effect, bytes: done.bytes, reconciled: done.reconciled };
  }
  const out = await ctx.runEffect(effectId, () => archiveBatch(effect, fx));
  let done = out.status === 'DONE' ? out.result : await findArchivedBatch(effect, fx);
  if (!done) {
    ctx.log.warn({ effectId, archive: effect.archiveName }, 'archive outcome unknown and archive missing; archiving now');
    done = { ...(await archiveBatch(effect, fx)), reconciled: true };
  } else if (out.status === 'UNKNOWN') ctx.log.warn({ effectId, archive: effect.archiveName }, 'archive outcome unknown; archive found, reporting it');
  return { name: 'BatchArchived', effect, ...done };
}

export async function handleGwRequest(event: DecodedEvent, ctx: HandlerContext, gw: GwConfig, fx: EffectDeps): Promise<void> {
  const input = toInput(event);
  if (!input) {
    ctx.log.debug({ event: event.name, reason: 'NOT_A_GW_REQUEST' }, 'ignored');
    return;
  }
  const id = input.value.datastoreId;
  if (id !== event.key) throw new InvalidEventError(`event for datastore ${id} carries key ${event.key}`);
  const rctx: RuleContext = { now: event.meta.occurredAt, maxSize: gw.maxSize };
  let state = await loadState(ctx, id);
  let queue: Output[] = decide(input, state, rctx);
  let effects = 0;
  while (queue.length) {
    const out = queue.shift()!;
    if (out.kind === 'ignore') ctx.log.debug({ event: event.name, reason: out.reason }, 'ignored');
    else if (out.kind === 'emit') {
      state = evolve(state, out.event);
      await ctx.emit(out.event.name, id, out.event.value as never);
    } else {
      const result = await runGwEffect(out.effect, `gw.${out.effect.kind}.${event.meta.eventId}.${effects++}`, ctx, fx);
      queue = [...decide(result, state, rctx), ...queue];
    }
  }
  await saveState(ctx, id, state);
}

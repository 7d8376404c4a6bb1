// The GW data buffer's rules (seed: Datastore Logic + Data Buffer): store chunks while OPERATIONAL,
// freeze on /train once MAX_SIZE bytes are stored, archive and unfreeze on /cleanbuf. Pure: no I/O,
// no clock; the inputs are the request events and the results of the effects they asked for.
import { InvalidEventError } from '../../platform/errors.ts';
import type { Output as DeciderOutput } from '../../platform/decider.ts';
import type { BodyOf } from '../../platform/types.ts';
import type { BufferFlushRequested, GwChunkReceived, TrainRequested } from '../../schemas/generated/gw.ts';

export type GwStatus = 'OPERATIONAL' | 'FROZEN';

export interface GwState {
  status: GwStatus;
  /** files in the buffer (seed StatDesc.json n_itm) */
  nItm: number;
  /** bytes of the files in the buffer (seed StatDesc.json buff_size) */
  buffSize: number;
  /** files ever stored in this datastore; names the next file so names stay unique across archives */
  seq: number;
  /** batches archived so far; numbers the next archive directory */
  flushes: number;
  /** seed Dsstat.json user/token (the token's owner, never the secret) */
  user: string;
  tokenOwner: string;
}

export const initialState = (): GwState => ({
  status: 'OPERATIONAL', nItm: 0, buffSize: 0, seq: 0, flushes: 0, user: '', tokenOwner: '',
});

export type OutcomeEvent =
  | { name: 'GwChunkStored'; value: BodyOf<'GwChunkStored'> }
  | { name: 'GwChunkFailed'; value: BodyOf<'GwChunkFailed'> }
  | { name: 'BufferFrozen'; value: BodyOf<'BufferFrozen'> }
  | { name: 'TrainDeferred'; value: BodyOf<'TrainDeferred'> }
  | { name: 'BufferFlushed'; value: BodyOf<'BufferFlushed'> };

/** Which outcome may follow which status, and the status it leads to. Anything else is a bug. */
export const TRANSITIONS: Record<GwStatus, Partial<Record<OutcomeEvent['name'], GwStatus>>> = {
  OPERATIONAL: { GwChunkStored: 'OPERATIONAL', TrainDeferred: 'OPERATIONAL', BufferFrozen: 'FROZEN', BufferFlushed: 'OPERATIONAL' },
  FROZEN: { GwChunkFailed: 'FROZEN', BufferFrozen: 'FROZEN', BufferFlushed: 'OPERATIONAL' },
};

export interface StoreChunkEffect {
  kind: 'storeChunk';
  datastoreId: string;
  fileName: string;
  /** the file the gateway wrote in incoming/, renamed into the buffer; null: format `samples` (an event that carries the bytes) */
  incoming: string | null;
  samples: Float64Array | null;
  nSamples: number;
  t0: number;
  dt: number;
}

/** removes a refused chunk's file from incoming/ */
export interface DiscardChunkEffect {
  kind: 'discardChunk';
  datastoreId: string;
  incoming: string;
}

export interface ArchiveBatchEffect {
  kind: 'archiveBatch';
  datastoreId: string;
  /** directory name under the datastore's archive/ folder: request time + batch number */
  archiveName: string;
  msg: string;
}

export type GwEffect = StoreChunkEffect | DiscardChunkEffect | ArchiveBatchEffect;

export type GwInput =
  | { name: 'GwChunkReceived'; value: GwChunkReceived }
  | { name: 'TrainRequested'; value: TrainRequested }
  | { name: 'BufferFlushRequested'; value: BufferFlushRequested }
  /** result of a storeChunk effect: the file exists with `bytes` bytes */
  | { name: 'ChunkWritten'; effect: StoreChunkEffect; bytes: number; reconciled: boolean }
  /** result of a discardChunk effect */
  | { name: 'ChunkDiscarded' }
  /** result of an archiveBatch effect: what the archive directory holds */
  | { name: 'BatchArchived'; effect: ArchiveBatchEffect; archivePath: string; nFiles: number; bytes: number; reconciled: boolean };


export type Output = DeciderOutput<OutcomeEvent, GwEffect>;

export interface RuleContext {
  /** the input's meta.occurredAt, ms */
  now: number;
  /** seed MAX_SIZE: bytes stored before /train may freeze the datastore */
  maxSize: number;
}

export function evolve(state: GwState, event: OutcomeEvent): GwState {
  const next = TRANSITIONS[state.status][event.name];
  if (!next) throw new InvalidEventError(`${event.name} is not allowed when the datastore is ${state.status}`);
  switch (event.name) {
    case 'GwChunkStored':
      return { ...state, status: next, nItm: event.value.nItm, buffSize: event.value.buffSize, seq: state.seq + 1 };
    case 'GwChunkFailed':
      return { ...state, status: next };
    case 'BufferFrozen':
    case 'TrainDeferred':
      return { ...state, status: next, user: event.value.user, tokenOwner: event.value.tokenOwner };
    case 'BufferFlushed':
      return { ...state, status: next, nItm: 0, buffSize: 0, flushes: state.flushes + 1 };
    default: {
      const never: never = event;
      throw new InvalidEventError(`unknown outcome ${(never as OutcomeEvent).name}`);
    }
  }
}

export function decide(input: GwInput, state: GwState, ctx: RuleContext): Output[] {
  switch (input.name) {
    case 'GwChunkReceived': return onChunkReceived(input.value, state);
    case 'ChunkWritten': return onChunkWritten(input, state);
    case 'ChunkDiscarded': return [];
    case 'TrainRequested': return onTrainRequested(input.value, state, ctx);
    case 'BufferFlushRequested': return onFlushRequested(input.value, state, ctx);
    case 'BatchArchived': return onBatchArchived(input);
    default: {
      const never: never = input;
      throw new InvalidEventError(`unknown gw input ${(never as GwInput).name}`);
    }
  }
}

/** File name of the n-th chunk stored in a datastore (1-based, zero-padded so names sort in order),
 *  tagged with its request's id: a file found under this name after a crash is this chunk's. */
export const chunkFileName = (n: number, eventId: string) => `gw_${String(n).padStart(9, '0')}_${eventId.replace(/-/g, '').slice(0, 8)}.json`;

/** `2026-12-01T18-07_0003`: the seed's "DAY HOUR MIN" of the request, plus the batch number so two
 *  flushes in one minute never share a directory. UTC. */
export function archiveName(now: number, batch: number): string {
  const iso = new Date(now).toISOString(); // 2026-12-01T18:07:33.123Z
  return `${iso.slice(0, 10)}T${iso.slice(11, 13)}-${iso.slice(14, 16)}_${String(batch).padStart(4, '0')}`;
}

const LITTLE_ENDIAN_HOST = new Uint8Array(new Float64Array([1]).buffer)[7] === 0x3f;

/** Strain bytes (little-endian float64) as samples; throws InvalidEventError on a corrupt chunk. */
export function decodeStrain(h: Buffer, nSamples: number): Float64Array {
  if (h.length === 0 || h.length % 8 !== 0 || h.length / 8 !== nSamples) {
    throw new InvalidEventError(`chunk has ${h.length} bytes for ${nSamples} float64 samples`);
  }
  // one memcpy into an aligned buffer, then a plain loop (Avro hands over an unaligned slice)
  const samples = new Float64Array(h.buffer.slice(h.byteOffset, h.byteOffset + h.byteLength) as ArrayBuffer);
  if (!LITTLE_ENDIAN_HOST) Buffer.from(samples.buffer).swap64();
  for (let i = 0; i < nSamples; i++) {
    if (!Number.isFinite(samples[i])) throw new InvalidEventError(`sample ${i} is not a finite number`);
  }
  return samples;
}

function onChunkReceived(v: GwChunkReceived, state: GwState): Output[] {
  if (!(v.dt > 0) || !Number.isFinite(v.dt) || !Number.isFinite(v.t0)) {
    throw new InvalidEventError(`chunk needs a finite t0 and dt > 0 (got t0=${v.t0}, dt=${v.dt})`);
  }
  if (v.file !== null && (v.h.length !== 0 || !(v.nSamples > 0) || !/^[0-9a-f-]{36}\.json$/.test(v.file))) {
    throw new InvalidEventError(`chunk names file ${JSON.stringify(v.file)} with ${v.h.length} bytes and ${v.nSamples} samples`);
  }
  const samples = v.file === null ? decodeStrain(v.h, v.nSamples) : null;
  if (state.status === 'FROZEN') {
    const failed: Output = { kind: 'append', event: { name: 'GwChunkFailed', value: { datastoreId: v.datastoreId, reason: 'FROZEN', nSamples: v.nSamples, t0: v.t0 } } };
    return v.file === null ? [failed] : [failed, { kind: 'effect', effect: { kind: 'discardChunk', datastoreId: v.datastoreId, incoming: v.file } }];
  }
  return [{
    kind: 'effect',
    effect: {
      kind: 'storeChunk', datastoreId: v.datastoreId, fileName: chunkFileName(state.seq + 1, v.meta.eventId),
      incoming: v.file, samples, nSamples: v.nSamples, t0: v.t0, dt: v.dt,
    },
  }];
}

function onChunkWritten(input: Extract<GwInput, { name: 'ChunkWritten' }>, state: GwState): Output[] {
  const e = input.effect;
  return [{
    kind: 'append',
    event: {
      name: 'GwChunkStored',
      value: {
        datastoreId: e.datastoreId, fileName: e.fileName, bytes: input.bytes, nSamples: e.nSamples, t0: e.t0, dt: e.dt,
        nItm: state.nItm + 1, buffSize: state.buffSize + input.bytes, reconciled: input.reconciled,
      },
    },
  }];
}

// Seed Datastore Logic /freezeds: freeze once the stored batch reaches MAX_SIZE. A /train on a frozen
// datastore answers FROZEN again with the same counts (nothing was stored since).
function onTrainRequested(v: TrainRequested, state: GwState, ctx: RuleContext): Output[] {
  const who = { datastoreId: v.datastoreId, user: v.user, tokenOwner: v.tokenOwner, n_f: state.nItm, bt_wrt: state.buffSize };
  if (state.status === 'FROZEN' || state.buffSize >= ctx.maxSize) {
    return [{ kind: 'append', event: { name: 'BufferFrozen', value: who } }];
  }
  return [{ kind: 'append', event: { name: 'TrainDeferred', value: { ...who, maxSize: ctx.maxSize } } }];
}

// Seed Data Buffer /cleanall: archive everything written, whatever the status, then unfreeze.
function onFlushRequested(v: BufferFlushRequested, state: GwState, ctx: RuleContext): Output[] {
  return [{
    kind: 'effect',
    effect: { kind: 'archiveBatch', datastoreId: v.datastoreId, archiveName: archiveName(ctx.now, state.flushes + 1), msg: v.msg },
  }];
}

function onBatchArchived(input: Extract<GwInput, { name: 'BatchArchived' }>): Output[] {
  return [{
    kind: 'append',
    event: {
      name: 'BufferFlushed',
      value: {
        datastoreId: input.effect.datastoreId, archivePath: input.archivePath, n_f: input.nFiles, bt_wrt: input.bytes,
        msg: input.effect.msg, reconciled: input.reconciled,
      },
    },
  }];
}

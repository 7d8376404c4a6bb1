import { describe, expect, it } from 'vitest';
import { InvalidEventError } from '../../platform/errors.ts';
import {
  archiveName, chunkFileName, decide, evolve, initialState, TRANSITIONS,
  type GwInput, type GwState, type OutcomeEvent, type StoreChunkEffect,
} from './rules.ts';

const meta = { eventId: '1a2b3c4d-0000-5000-8000-000000000000', occurredAt: Date.UTC(2026, 11, 1, 18, 7, 33), correlationId: 'c1', causationId: null, actor: 'alice', source: 'test' };
const ctx = { now: meta.occurredAt, maxSize: 1000 };
const strain = (xs: number[]) => Buffer.from(new Float64Array(xs).buffer);
const chunk = (xs: number[], t0 = 100, dt = 0.25): Extract<GwInput, { name: 'GwChunkReceived' }> => ({
  name: 'GwChunkReceived', value: { meta, datastoreId: 'ds1', h: strain(xs), t0, dt, nSamples: xs.length, file: null },
});
const FILE = '0b5e9c1e-5a4f-4a57-9d5e-6a1f8f1b2c3d.json';
const inFile = (nSamples: number): Extract<GwInput, { name: 'GwChunkReceived' }> => ({
  name: 'GwChunkReceived', value: { meta, datastoreId: 'ds1', h: Buffer.alloc(0), t0: 100, dt: 0.25, nSamples, file: FILE },
});
const train: GwInput = { name: 'TrainRequested', value: { meta, datastoreId: 'ds1', user: 'u1', tokenOwner: 'tok-alice' } };
const state = (s: Partial<GwState>): GwState => ({ ...initialState(), ...s });

describe('GwChunkReceived', () => {
  it('asks to store an OPERATIONAL chunk under the next file name', () => {
    const [out] = decide(chunk([1, 2, 3]), state({ seq: 41 }), ctx);
    expect(out.kind).toBe('effect');
    const effect = (out as { effect: StoreChunkEffect }).effect;
    expect(effect).toMatchObject({ kind: 'storeChunk', datastoreId: 'ds1', fileName: 'gw_000000042_1a2b3c4d.json', t0: 100, dt: 0.25 });
    expect([...effect.samples!]).toEqual([1, 2, 3]);
  });

  it('asks to store a chunk the gateway wrote to incoming/ by renaming that file', () => {
    expect(decide(inFile(3), state({ seq: 41 }), ctx)).toEqual([{
      kind: 'effect',
      effect: { kind: 'storeChunk', datastoreId: 'ds1', fileName: 'gw_000000042_1a2b3c4d.json', incoming: FILE, samples: null, nSamples: 3, t0: 100, dt: 0.25 },
    }]);
  });

  it('refuses a chunk in a file with FROZEN and removes the file, storing nothing', () => {
    expect(decide(inFile(2), state({ status: 'FROZEN' }), ctx)).toEqual([
      { kind: 'append', event: { name: 'GwChunkFailed', value: { datastoreId: 'ds1', reason: 'FROZEN', nSamples: 2, t0: 100 } } },
      { kind: 'effect', effect: { kind: 'discardChunk', datastoreId: 'ds1', incoming: FILE } },
    ]);
    expect(decide({ name: 'ChunkDiscarded' }, state({ status: 'FROZEN' }), ctx)).toEqual([]);
  });

  it('dead-letters a chunk that names a file outside incoming/ or carries bytes too', () => {
    const escape = inFile(2);
    (escape.value as { file: string }).file = '../data/x.json';
    expect(() => decide(escape, initialState(), ctx)).toThrow(InvalidEventError);
    const both = inFile(2);
    (both.value as { h: Buffer }).h = strain([1, 2]);
    expect(() => decide(both, initialState(), ctx)).toThrow(InvalidEventError);
  });

  it('refuses a chunk with FROZEN when the datastore is frozen, storing nothing', () => {
    expect(decide(chunk([1, 2]), state({ status: 'FROZEN' }), ctx)).toEqual([
      { kind: 'append', event: { name: 'GwChunkFailed', value: { datastoreId: 'ds1', reason: 'FROZEN', nSamples: 2, t0: 100 } } },
    ]);
  });

  it('dead-letters a corrupt chunk (length, NaN, dt ≤ 0)', () => {
    const bad = chunk([1, 2]);
    (bad.value as { nSamples: number }).nSamples = 3;
    expect(() => decide(bad, initialState(), ctx)).toThrow(InvalidEventError);
    expect(() => decide(chunk([1, Number.NaN]), initialState(), ctx)).toThrow(InvalidEventError);
    expect(() => decide(chunk([1], 0, 0), initialState(), ctx)).toThrow(InvalidEventError);
    expect(() => decide(chunk([]), initialState(), ctx)).toThrow(InvalidEventError);
  });

  it('reports the written file with the new counters', () => {
    const [out] = decide(chunk([1, 2]), state({ seq: 2, nItm: 2, buffSize: 70 }), ctx);
    const effect = (out as { effect: StoreChunkEffect }).effect;
    expect(decide({ name: 'ChunkWritten', effect, bytes: 30, reconciled: false }, state({ seq: 2, nItm: 2, buffSize: 70 }), ctx)).toEqual([{
      kind: 'append',
      event: { name: 'GwChunkStored', value: { datastoreId: 'ds1', fileName: 'gw_000000003_1a2b3c4d.json', bytes: 30, nSamples: 2, t0: 100, dt: 0.25, nItm: 3, buffSize: 100, reconciled: false } },
    }]);
  });
});

describe('TrainRequested', () => {
  it('answers WAITING (TrainDeferred) below MAX_SIZE', () => {
    expect(decide(train, state({ nItm: 3, buffSize: 999 }), ctx)).toEqual([{
      kind: 'append', event: { name: 'TrainDeferred', value: { datastoreId: 'ds1', user: 'u1', tokenOwner: 'tok-alice', n_f: 3, bt_wrt: 999, maxSize: 1000 } },
    }]);
  });

  it('freezes at MAX_SIZE with the exact counts', () => {
    expect(decide(train, state({ nItm: 4, buffSize: 1000 }), ctx)).toEqual([{
      kind: 'append', event: { name: 'BufferFrozen', value: { datastoreId: 'ds1', user: 'u1', tokenOwner: 'tok-alice', n_f: 4, bt_wrt: 1000 } },
    }]);
  });

  it('answers FROZEN again on a frozen datastore', () => {
    const [out] = decide(train, state({ status: 'FROZEN', nItm: 4, buffSize: 1200 }), { ...ctx, maxSize: 5000 });
    expect(out).toMatchObject({ kind: 'append', event: { name: 'BufferFrozen', value: { n_f: 4, bt_wrt: 1200 } } });
  });
});

describe('BufferFlushRequested', () => {
  it('asks to archive into a directory named after the request time and batch number', () => {
    const input: GwInput = { name: 'BufferFlushRequested', value: { meta, datastoreId: 'ds1', msg: 'bye' } };
    expect(decide(input, state({ status: 'FROZEN', flushes: 2 }), ctx)).toEqual([
      { kind: 'effect', effect: { kind: 'archiveBatch', datastoreId: 'ds1', archiveName: '2026-12-01T18-07_0003', msg: 'bye' } },
    ]);
  });

  it('reports what the archive holds', () => {
    const effect = { kind: 'archiveBatch' as const, datastoreId: 'ds1', archiveName: 'x', msg: 'm' };
    expect(decide({ name: 'BatchArchived', effect, archivePath: '/a/x', nFiles: 2, bytes: 50, reconciled: true }, initialState(), ctx)).toEqual([{
      kind: 'append', event: { name: 'BufferFlushed', value: { datastoreId: 'ds1', archivePath: '/a/x', n_f: 2, bt_wrt: 50, msg: 'm', reconciled: true } },
    }]);
  });
});

describe('evolve', () => {
  const samples: Record<OutcomeEvent['name'], OutcomeEvent> = {
    GwChunkStored: { name: 'GwChunkStored', value: { datastoreId: 'd', fileName: 'f', bytes: 10, nSamples: 1, t0: 0, dt: 1, nItm: 1, buffSize: 10, reconciled: false } },
    GwChunkFailed: { name: 'GwChunkFailed', value: { datastoreId: 'd', reason: 'FROZEN', nSamples: 1, t0: 0 } },
    BufferFrozen: { name: 'BufferFrozen', value: { datastoreId: 'd', user: 'u', tokenOwner: 't', n_f: 1, bt_wrt: 10 } },
    TrainDeferred: { name: 'TrainDeferred', value: { datastoreId: 'd', user: 'u', tokenOwner: 't', n_f: 1, bt_wrt: 10, maxSize: 99 } },
    BufferFlushed: { name: 'BufferFlushed', value: { datastoreId: 'd', archivePath: '/a', n_f: 1, bt_wrt: 10, msg: '', reconciled: false } },
  };

  it('follows the TRANSITIONS table and refuses everything else', () => {
    for (const status of ['OPERATIONAL', 'FROZEN'] as const) {
      for (const ev of Object.values(samples)) {
        const to = TRANSITIONS[status][ev.name];
        if (to) expect(evolve(state({ status }), ev).status).toBe(to);
        else expect(() => evolve(state({ status }), ev)).toThrow(InvalidEventError);
      }
    }
  });

  it('counts stored chunks, records the freezing user and resets on flush', () => {
    let s = evolve(initialState(), samples.GwChunkStored);
    expect(s).toMatchObject({ nItm: 1, buffSize: 10, seq: 1 });
    s = evolve(s, samples.BufferFrozen);
    expect(s).toMatchObject({ status: 'FROZEN', user: 'u', tokenOwner: 't' });
    s = evolve(s, samples.BufferFlushed);
    expect(s).toMatchObject({ status: 'OPERATIONAL', nItm: 0, buffSize: 0, seq: 1, flushes: 1 });
  });
});

it('names files and archives so they sort in order', () => {
  expect(chunkFileName(7, 'abcdef01-2345-5678-8000-000000000000')).toBe('gw_000000007_abcdef01.json');
  expect(archiveName(Date.UTC(2026, 0, 2, 3, 4), 12)).toBe('2026-01-02T03-04_0012');
});

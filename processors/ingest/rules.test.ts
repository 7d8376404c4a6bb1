import { describe, expect, it } from 'vitest';
import { decide, evolve, evolveInput, evolveOutcome, initialState, attemptOutcome, type FileState, type IngestEffect, type QuarantineEffect, type RestoreEffect } from './rules.ts';
import { STATUSES, TRANSITIONS, canMove, statusOf, type IngestEvent, type StatusOrNone } from '../../domains/ingest/status.ts';

const meta = { eventId: 'e1', occurredAt: 1_000, correlationId: 'c1', causationId: null, actor: null, source: 'test' };
const ctx = { now: 1_000, eventId: 'e1', plugin: 'Registry', quarantine: null };
const qctx = { ...ctx, quarantine: '/quar' };
const moved: IngestEvent = { name: 'FileMoved', value: { meta, fileId: 'f1', relPath: 'a/b.fits', sourcePath: '/buf/a/b.fits', storagePath: '/sto/a/b.fits', size: 10, checksum: 'c' } };
const queued = (attempt: number): IngestEvent => ({ name: 'IngestQueued', value: { meta, fileId: 'f1', attempt, plugin: 'Registry', storagePath: '/sto/a/b.fits', relPath: 'a/b.fits', checksum: 'c' } });
const attempted = (status: string, attempt = 1): IngestEvent => ({ name: 'IngestAttempted', value: { meta, fileId: 'f1', attempt, plugin: 'Registry', status, durationMs: 5, error: null, details: null } });
const rerun: IngestEvent = { name: 'IngestRerunRequested', value: { meta, fileId: 'f1', reason: null } };
const conflict: IngestEvent = { name: 'FileConflictFound', value: { meta, fileId: 'f1', relPath: 'a/b.fits', sourcePath: '/buf/a/b.fits', storagePath: '/sto/a/b.fits', size: 10, checksum: 'c', existingChecksum: 'd', reason: 'different content' } };
const fold = (...events: IngestEvent[]) => events.reduce<FileState>(evolve, initialState());

describe('ingest rules', () => {
  it('queues attempt 1 for a moved file and asks for its ingest effect (UNTRIED → PENDING)', () => {
    const out = decide(moved, initialState(), ctx);
    expect(out).toEqual([
      { kind: 'append', event: { name: 'IngestQueued', value: expect.objectContaining({ fileId: 'f1', attempt: 1, plugin: 'Registry', storagePath: '/sto/a/b.fits' }) } },
      { kind: 'effect', effect: expect.objectContaining({ kind: 'ingest', effectId: 'ingest:f1:1', attempt: 1, storagePath: '/sto/a/b.fits' }) },
    ]);
    expect(fold(moved).status).toBe('UNTRIED');
  });

  it('ignores a second FileMoved for a known file', () => {
    expect(decide(moved, fold(moved), ctx)).toEqual([{ kind: 'ignore', reason: 'known-file' }]);
  });

  it('ignores its own outputs when they come back on the topic', () => {
    expect(decide(queued(1), fold(moved, queued(1)), ctx)).toEqual([{ kind: 'ignore', reason: 'own-output' }]);
    expect(decide(attempted('SUCCESS'), fold(moved, queued(1), attempted('SUCCESS')), ctx)).toEqual([{ kind: 'ignore', reason: 'own-output' }]);
  });

  it('reruns a FAILURE as attempt 2 and ignores a rerun while one is pending', () => {
    const failed = fold(moved, queued(1), attempted('FAILURE'));
    expect(failed.status).toBe('FAILURE');
    expect(decide(rerun, failed, ctx)).toEqual([
      { kind: 'append', event: { name: 'IngestQueued', value: expect.objectContaining({ attempt: 2 }) } },
      { kind: 'effect', effect: expect.objectContaining({ effectId: 'ingest:f1:2', attempt: 2 }) },
    ]);
    expect(decide(rerun, fold(moved, queued(1)), ctx)).toEqual([{ kind: 'ignore', reason: 'already-queued' }]);
    expect(decide(rerun, initialState(), ctx)).toEqual([{ kind: 'ignore', reason: 'unknown-file' }]);
  });

  it('refuses a rerun of a conflicting file with a FAILURE outcome', () => {
    const state = fold(conflict);
    expect(state.status).toBe('FAILURE');
    const out = decide(rerun, state, ctx);
    expect(out).toEqual([{ kind: 'append', event: { name: 'IngestAttempted', value: expect.objectContaining({ status: 'FAILURE', error: expect.stringContaining('not in storage') }) } }]);
  });

  it('records UNKNOWN and lets it be rerun', () => {
    const unknown = fold(moved, queued(1), attempted('UNKNOWN'));
    expect(unknown.status).toBe('UNKNOWN');
    expect(fold(moved, queued(1), attempted('UNKNOWN'), rerun, queued(2), attempted('SUCCESS', 2))).toMatchObject({ status: 'SUCCESS', attempt: 2 });
  });

  it('evolve follows the TRANSITIONS table and nothing else', () => {
    const sample: Record<string, IngestEvent> = {
      UNTRIED: moved, PENDING: queued(1), SUCCESS: attempted('SUCCESS'), FAILURE: attempted('FAILURE'), UNKNOWN: attempted('UNKNOWN'), RERUN: rerun,
      BACKFILL: { name: 'FileBackfilled', value: { meta, fileId: 'f1', relPath: 'a/b.fits', storagePath: '/sto/a/b.fits', size: 10, checksum: 'c' } },
    };
    const reach: Record<StatusOrNone, IngestEvent[]> = {
      NONE: [], UNTRIED: [moved], PENDING: [moved, queued(1)], SUCCESS: [moved, queued(1), attempted('SUCCESS')],
      FAILURE: [moved, queued(1), attempted('FAILURE')], UNKNOWN: [moved, queued(1), attempted('UNKNOWN')],
      RERUN: [moved, queued(1), attempted('FAILURE'), rerun], BACKFILL: [sample.BACKFILL],
    };
    for (const from of Object.keys(TRANSITIONS) as StatusOrNone[]) {
      const state = fold(...reach[from]);
      expect(state.status).toBe(from);
      for (const to of STATUSES) {
        let ev = sample[to];
        if (to === 'PENDING' && state.status !== 'NONE') ev = queued(state.attempt + 1);
        if (to === 'FAILURE' && from === 'NONE') ev = conflict;
        const next = evolve(state, ev);
        expect(next.status, `${from} → ${to}`).toBe(canMove(from, to) ? to : from);
      }
    }
  });

  it('maps finder events to no status and builds attempt outcomes', () => {
    expect(statusOf({ name: 'DuplicateFound', value: { meta, fileId: 'f1', relPath: 'x', sourcePath: 's', storagePath: 't', size: 1, checksum: 'c', action: 'Delete' } })).toBeNull();
    const eff = { kind: 'ingest' as const, effectId: 'x', fileId: 'f1', attempt: 3, plugin: 'Command', storagePath: '/s', relPath: 'r', checksum: 'c' };
    expect(attemptOutcome(eff, { status: 'SUCCESS', durationMs: 12.6, details: { a: 1 } })).toEqual({ fileId: 'f1', attempt: 3, plugin: 'Command', status: 'SUCCESS', durationMs: 13, error: null, details: '{"a":1}' });
  });

  it('given a pending attempt, when its effect result comes back, then IngestAttempted is appended and folded like the event read back', () => {
    const eff: IngestEffect = { kind: 'ingest', effectId: 'ingest:f1:1', fileId: 'f1', attempt: 1, plugin: 'Registry', storagePath: '/sto/a/b.fits', relPath: 'a/b.fits', checksum: 'c' };
    const pending = fold(moved, queued(1));
    const input = { name: 'IngestAttemptDone' as const, effect: eff, result: { status: 'UNKNOWN' as const, durationMs: 0, error: 'stopped', details: null } };
    const out = decide(input, pending, ctx);
    expect(out).toEqual([{ kind: 'append', event: { name: 'IngestAttempted', value: expect.objectContaining({ fileId: 'f1', attempt: 1, status: 'UNKNOWN', error: 'stopped' }) } }]);
    expect(evolveInput(pending, input)).toBe(pending);
    const appended = out[0] as Extract<(typeof out)[number], { kind: 'append' }>;
    expect(evolveOutcome(pending, appended.event, meta)).toEqual(fold(moved, queued(1), { name: 'IngestAttempted', value: { ...(appended.event.value as Extract<IngestEvent, { name: 'IngestAttempted' }>['value']), meta } }));
    expect(evolveOutcome(pending, appended.event, meta)).toMatchObject({ status: 'UNKNOWN', history: [{ attempt: 1, status: 'UNKNOWN', error: 'stopped', durationMs: 0, at: 1_000 }] });
  });

  it('given a moved file, when the event is decided, then the event itself moves the state to UNTRIED', () => {
    expect(evolveInput(initialState(), moved)).toMatchObject({ status: 'UNTRIED', fileId: 'f1', attempt: 0 });
  });
  describe('quarantine', () => {
    const eff: IngestEffect = { kind: 'ingest', effectId: 'ingest:f1:1', fileId: 'f1', attempt: 1, plugin: 'Registry', storagePath: '/sto/a/b.fits', relPath: 'a/b.fits', checksum: 'c' };
    const failedInput = { name: 'IngestAttemptDone' as const, effect: eff, result: { status: 'FAILURE' as const, durationMs: 4, error: 'no data id', details: null } };
    const quarantined: IngestEvent = { name: 'FileQuarantined', value: { meta, fileId: 'f1', attempt: 1, storagePath: '/sto/a/b.fits', quarantinePath: '/quar/a/b.fits', reasonPath: '/quar/a/b.fits.reason.json', error: 'no data id' } };

    it('given no quarantine directory, when an attempt fails, then the file stays where it is', () => {
      expect(decide(failedInput, fold(moved, queued(1)), ctx)).toHaveLength(1);
    });

    it('given a quarantine directory, when an attempt fails, then the file is quarantined with its attempt history', () => {
      const earlier = fold(moved, queued(1), attempted('UNKNOWN'), rerun, queued(2));
      const input = { ...failedInput, effect: { ...eff, attempt: 2, effectId: 'ingest:f1:2' } };
      const out = decide(input, earlier, qctx);
      expect(out[0]).toMatchObject({ kind: 'append', event: { name: 'IngestAttempted', value: { status: 'FAILURE', attempt: 2 } } });
      expect(out[1]).toEqual({ kind: 'effect', effect: expect.objectContaining({
        kind: 'quarantine', effectId: 'quarantine:f1:2', dir: '/quar', storagePath: '/sto/a/b.fits', relPath: 'a/b.fits',
        reason: expect.objectContaining({ error: 'no data id', attempts: [expect.objectContaining({ attempt: 1, status: 'UNKNOWN' }), expect.objectContaining({ attempt: 2, status: 'FAILURE', error: 'no data id' })] }),
      }) });
      expect(decide({ ...failedInput, result: { ...failedInput.result, status: 'SUCCESS' as const } }, fold(moved, queued(1)), qctx)).toHaveLength(1);
    });

    it('when the move is done, then FileQuarantined records where the file went; a failed move records nothing', () => {
      const q = (decide(failedInput, fold(moved, queued(1)), qctx)[1] as { effect: QuarantineEffect }).effect;
      expect(decide({ name: 'QuarantineDone', effect: q, result: { ok: true, quarantinePath: '/quar/a/b.fits', reasonPath: '/quar/a/b.fits.reason.json' } }, fold(moved, queued(1), attempted('FAILURE')), qctx))
        .toEqual([{ kind: 'append', event: { name: 'FileQuarantined', value: { fileId: 'f1', attempt: 1, storagePath: '/sto/a/b.fits', quarantinePath: '/quar/a/b.fits', reasonPath: '/quar/a/b.fits.reason.json', error: 'no data id' } } }]);
      expect(decide({ name: 'QuarantineDone', effect: q, result: { ok: false, error: 'EACCES' } }, fold(moved, queued(1), attempted('FAILURE')), qctx)).toEqual([{ kind: 'ignore', reason: 'quarantine-failed' }]);
    });

    it('given a quarantined file, when a rerun comes, then it is brought back before attempt 2, which is not quarantined twice', () => {
      const state = fold(moved, queued(1), attempted('FAILURE'), quarantined);
      expect(state).toMatchObject({ status: 'FAILURE', quarantinePath: '/quar/a/b.fits', history: [expect.objectContaining({ attempt: 1, status: 'FAILURE' })] });
      const out = decide(rerun, state, qctx);
      expect(out).toEqual([{ kind: 'effect', effect: { kind: 'restore', effectId: 'restore:f1:2', fileId: 'f1', quarantinePath: '/quar/a/b.fits', storagePath: '/sto/a/b.fits' } }]);
      const restore = (out[0] as { effect: RestoreEffect }).effect;
      const rerunning = evolveInput(state, rerun);
      const back = decide({ name: 'RestoreDone', effect: restore, result: { ok: true } }, rerunning, qctx);
      expect(back.map((o) => (o.kind === 'append' ? o.event.name : o.kind))).toEqual(['FileRestored', 'IngestQueued', 'effect']);
      expect(back[2]).toMatchObject({ effect: { kind: 'ingest', attempt: 2, storagePath: '/sto/a/b.fits' } });
      const restored: IngestEvent = { name: 'FileRestored', value: { meta, fileId: 'f1', quarantinePath: '/quar/a/b.fits', storagePath: '/sto/a/b.fits' } };
      expect(fold(moved, queued(1), attempted('FAILURE'), quarantined, rerun, restored)).toMatchObject({ status: 'RERUN', quarantinePath: null });
      const refused = decide({ name: 'RestoreDone', effect: restore, result: { ok: false, error: 'another file is there' } }, rerunning, qctx);
      expect(refused).toEqual([{ kind: 'append', event: { name: 'IngestAttempted', value: expect.objectContaining({ status: 'FAILURE', error: expect.stringMatching(/could not be brought back from quarantine: another file is there/) }) } }]);
      expect(decide(failedInput, state, qctx), 'already in quarantine').toHaveLength(1);
    });
  });
});

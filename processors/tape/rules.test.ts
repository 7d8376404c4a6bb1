import { describe, expect, it } from 'vitest';
import { InvalidEventError } from '../../platform/errors.ts';
import {
  acceptedFiles, afterBatchStage, afterCallback, afterLookup, decide, dueCallback, evolve, evolveInput, evolveView, initialState, RC, react, rescheduled, TRANSITIONS,
  updateView, type Output, type Reschedule, type TapeEffect, type TapeView,
  type Job, type RuleContext, type TapeInput, type TapeState,
} from './rules.ts';

const meta = (eventId = '00000000-0000-5000-8000-000000000001', occurredAt = 1_000) =>
  ({ eventId, occurredAt, correlationId: eventId, causationId: null, actor: null, source: 'test' });
const ctx: RuleContext = { now: 1_000, eventId: meta().eventId, jobTimeoutMs: 60_000, maxFiles: 100, failedBatchstageCode: 199, retry: { rounds: 0, firstDelayMs: 1, maxDelayMs: 1, windowMs: 0 }, quietMs: 60_000, progressDefault: [] };
/** the update a callback result decided */
const updateOf = (o: Output | undefined): Reschedule => (o as Extract<Output, { kind: 'update' }>).update;
/** a request whose job id was claimed (JobIdClaimed), decided */
const claimed = (value: Record<string, unknown>, holds = true, view: TapeView = { job: initialState() }) =>
  decide({ name: 'JobIdClaimed', effect: { kind: 'claimJobId', request: { meta: meta(), ...value } as any }, holds }, view, ctx);
const ev = (name: string, value: Record<string, unknown>) => ({ name, value: { meta: meta(), ...value } }) as unknown as TapeInput;
const staging = (over: Partial<Job> = {}): Job => ({
  status: 'STAGING', jobId: 7, notifyUrl: 'http://cb', total: 2, ready: 0, error: 0, deadline: 61_000, submitted: true,
  returnCode: null, comment: '', callback: 'NONE', deliveryId: null,
  callbackNextAt: null, callbackRounds: 0, callbackAttempts: 0, callbackSince: null, lastHeardAt: 500, firstError: null, progress: [], progressSent: 0, ...over,
});

describe('tape rules', () => {
  describe('TapeJobRequested', () => {
    it('given no job yet, when a request comes, then it first claims its job id', () => {
      const req = ev('TapeJobRequested', { jobId: 7, files: ['a'], obs: null, notifyUrl: 'http://cb' });
      expect(decide(req, { job: initialState() }, ctx)).toEqual([{ kind: 'effect', effect: { kind: 'claimJobId', request: (req as any).value } }]);
    });
    it('dead-letters a request whose obs is not JSON before claiming anything', () => {
      expect(() => decide(ev('TapeJobRequested', { jobId: 7, files: null, obs: '{', notifyUrl: 'u' }), { job: initialState() }, ctx)).toThrow(InvalidEventError);
    });
    it('creates a job from a file list, without duplicate files, with a deadline', () => {
      const out = claimed({ jobId: 7, files: ['a', 'b', 'a'], obs: null, notifyUrl: 'http://cb' });
      expect(out).toEqual([{ kind: 'append', event: { name: 'TapeJobCreated', value: { jobId: 7, files: ['a', 'b'], notifyUrl: 'http://cb', deadline: 61_000, progress: [] } } }]);
    });
    it('looks the files of an obs up first', () => {
      const out = claimed({ jobId: 7, files: null, obs: '{"obs_id":123}', notifyUrl: 'u' });
      expect(out).toEqual([{ kind: 'effect', effect: { kind: 'lookupFiles', jobId: 7, obs: { obs_id: 123 }, notifyUrl: 'u', progress: null } }]);
    });
    it('creates the job from the files the lookup found', () => {
      const effect: TapeEffect = { kind: 'lookupFiles', jobId: 7, obs: {}, notifyUrl: 'u' };
      expect(decide({ name: 'FilesLookedUp', effect, result: { ok: true, files: ['x'] } }, { job: initialState() }, ctx)[0])
        .toMatchObject({ kind: 'append', event: { name: 'TapeJobCreated', value: { jobId: 7, files: ['x'], notifyUrl: 'u' } } });
    });
    it('ignores a duplicate job id', () => {
      const out = decide(ev('TapeJobRequested', { jobId: 7, files: ['a'], obs: null, notifyUrl: 'u' }), { job: staging() }, ctx);
      expect(out).toEqual([{ kind: 'ignore', reason: 'DUPLICATE_JOB' }]);
    });
    it('ignores a request whose job id another request holds, before any job exists', () => {
      expect(claimed({ jobId: 7, files: ['a'], obs: null, notifyUrl: 'u' }, false)).toEqual([{ kind: 'ignore', reason: 'DUPLICATE_JOB' }]);
    });
    it('fails with 101 when neither files nor obs are given, or the list is empty', () => {
      for (const files of [null, []]) {
        const [o] = claimed({ jobId: 7, files, obs: null, notifyUrl: 'u' });
        expect(o).toMatchObject({ kind: 'append', event: { name: 'TapeJobCreationFailed', value: { returnCode: RC.NO_FILES } } });
      }
    });
    it('fails with 100 when the lookup fails and 101 when the obs has no files', () => {
      const req = { meta: meta(), jobId: 7, files: null, obs: '{}', notifyUrl: 'u' };
      expect(afterLookup(req, { ok: false, error: 'HTTP 404' }, ctx)[0]).toMatchObject({ event: { name: 'TapeJobCreationFailed', value: { returnCode: RC.LOOKUP_FAILED } } });
      expect(afterLookup(req, { ok: true, files: [] }, ctx)[0]).toMatchObject({ event: { name: 'TapeJobCreationFailed', value: { returnCode: RC.NO_FILES } } });
      expect(afterLookup(req, { ok: true, files: ['x'] }, ctx)[0]).toMatchObject({ event: { name: 'TapeJobCreated', value: { files: ['x'] } } });
    });
  });

  describe('staging', () => {
    it('calls batchstage once for a created job', () => {
      const created = ev('TapeJobCreated', { jobId: 7, files: ['a'], notifyUrl: 'u', deadline: 1 });
      expect(decide(created, { job: staging({ submitted: false }) }, ctx)).toEqual([{ kind: 'effect', effect: { kind: 'batchStage', jobId: 7, files: ['a'] } }]);
      expect(decide(created, { job: staging() }, ctx)).toEqual([{ kind: 'ignore', reason: 'ALREADY_SUBMITTED' }]);
    });
    it('completes with 199 when batchstage failed on every node', () => {
      expect(afterBatchStage(staging(), { ok: false, error: 'down' }, 199)[0]).toMatchObject({ event: { name: 'TapeJobCompleted', value: { returnCode: 199 } } });
      const effect: TapeEffect = { kind: 'batchStage', jobId: 7, files: ['a'] };
      expect(decide({ name: 'BatchStageDone', effect, result: { ok: false, error: 'down' } }, { job: staging({ submitted: false }) }, ctx)[0])
        .toMatchObject({ event: { name: 'TapeJobCompleted', value: { returnCode: 199, comment: 'batchstage failed: down' } } });
      expect(decide({ name: 'BatchStageDone', effect, result: { ok: true, endpoint: 'n1', reconciled: false } }, { job: staging({ submitted: false }) }, ctx))
        .toEqual([{ kind: 'append', event: { name: 'TapeJobStageSubmitted', value: { jobId: 7, endpoint: 'n1', reconciled: false } } }]);
    });
    const batch = (staged: string[], failed: string[] = []) => ev('TapeFilesStaged', { jobId: 7, staged, failed: failed.map((file) => ({ file, error: 'bad tape' })), firstNotifiedAt: 1 });
    const view = (job: TapeState, files: Record<string, 'PENDING' | 'READY' | 'ERROR' | null>) => ({ job, files: new Map(Object.entries(files)) });
    it('counts pending files and completes with 0 once every file is ready or errored', () => {
      expect(decide(batch(['a']), view(staging({ total: 3 }), { a: 'PENDING' }), ctx)).toEqual([]);
      expect(decide(batch(['a'], ['b']), view(staging(), { a: 'PENDING', b: 'PENDING' }), ctx)).toEqual([{
        kind: 'append', event: {
          name: 'TapeJobCompleted',
          value: { jobId: 7, returnCode: 0, totalFiles: 2, readyFiles: 1, errorFiles: 1, comment: '1 files staged, 1 failed (first: b: bad tape)', notifyUrl: 'http://cb' },
        },
      }]);
    });
    it('takes the first outcome of a file and ignores duplicates and files of no job', () => {
      const v = batch(['a', 'a', 'x', 'c'], ['a']);
      const files = new Map<string, 'PENDING' | 'READY' | null>([['a', 'PENDING'], ['x', null], ['c', 'READY']]);
      expect(acceptedFiles((v as any).value, files)).toEqual({ staged: ['a'], failed: [], unknown: 1, duplicate: 3 });
      expect(decide(v, { job: staging({ total: 5 }), files }, ctx)).toEqual([
        { kind: 'ignore', reason: 'UNKNOWN_FILE' }, { kind: 'ignore', reason: 'DUPLICATE_FILE' },
      ]);
      // the files that count move the state, the others do not
      const after = evolveInput({ job: staging({ total: 5 }), files }, v);
      expect(after.job).toMatchObject({ ready: 1, error: 0 });
      expect(after.files).toEqual(new Map([['a', 'READY'], ['x', null], ['c', 'READY']]));
    });
    it('ignores a batch with nothing new, and late notifications', () => {
      const out = decide(batch(['a']), view(staging(), { a: 'READY' }), ctx);
      expect(out).toEqual([{ kind: 'ignore', reason: 'DUPLICATE_FILE' }]);
      const before = view(staging(), { a: 'READY' });
      expect(evolveInput(before, batch(['a']))).toBe(before);
      expect(decide(batch(['a']), view(staging({ status: 'CANCELLED' }), { a: 'PENDING' }), ctx)).toEqual([{ kind: 'ignore', reason: 'JOB_NOT_STAGING' }]);
      expect(decide(batch(['a']), view(initialState(), {}), ctx)).toEqual([{ kind: 'ignore', reason: 'UNKNOWN_JOB' }]);
    });
  });

  describe('reconcile of a quiet job', () => {
    const tick = { name: 'ReconcileDue', value: { meta: meta(), tick: 1, notificationsConsumed: 0, cache: null } } as TapeInput;
    const effect = { kind: 'reconcileFiles', jobId: 7 } as const;
    it('given a staging job silent for the quiet period, when the tick comes, then it asks the library', () => {
      expect(decide(tick, { job: staging({ lastHeardAt: 500 }) }, { ...ctx, now: 60_500 })).toEqual([{ kind: 'effect', effect }]);
    });
    it('leaves a job heard from within the quiet period, one not submitted and one not staging alone', () => {
      expect(decide(tick, { job: staging({ lastHeardAt: 501 }) }, { ...ctx, now: 60_500 })).toEqual([]);
      expect(decide(tick, { job: staging({ submitted: false }) }, { ...ctx, now: 1e9 })).toEqual([{ kind: 'ignore', reason: 'JOB_NOT_STAGING' }]);
      expect(decide(tick, { job: staging({ status: 'COMPLETED' }) }, { ...ctx, now: 1e9 })).toEqual([{ kind: 'ignore', reason: 'JOB_NOT_STAGING' }]);
    });
    it('records what the library found, and that it did not answer as nothing found', () => {
      const found = { ok: true as const, staged: ['a'], failed: [{ file: 'b', error: 'tape read error' }], pending: 0, checked: 2 };
      expect(decide({ name: 'FilesReconciled', effect, result: found }, { job: staging() }, ctx)).toEqual([{ kind: 'append', event: {
        name: 'TapeFilesReconciled', value: { jobId: 7, staged: ['a'], failed: [{ file: 'b', error: 'tape read error' }], pending: 0, checked: 2 } } }]);
      expect(decide({ name: 'FilesReconciled', effect, result: { ok: false, error: 'down' } }, { job: staging({ ready: 1 }) }, ctx)).toEqual([{ kind: 'append', event: {
        name: 'TapeFilesReconciled', value: { jobId: 7, staged: [], failed: [], pending: 1, checked: 0 } } }]);
    });
    it('restarts the quiet period when the reconcile is appended', () => {
      const [out] = decide({ name: 'FilesReconciled', effect, result: { ok: false, error: 'down' } }, { job: staging() }, ctx);
      const after = evolveView({ job: staging() }, (out as any).event, meta('00000000-0000-5000-8000-000000000002', 70_000));
      expect(after.job).toMatchObject({ lastHeardAt: 70_000, ready: 0 });
    });
    it('counts a reconcile read back like a notification batch: a read error ends the job with its reason', () => {
      const rec = ev('TapeFilesReconciled', { jobId: 7, staged: ['a'], failed: [{ file: 'b', error: 'tape read error' }], pending: 0, checked: 2 });
      const v = { job: staging(), files: new Map<string, 'PENDING' | null>([['a', 'PENDING'], ['b', 'PENDING']]) };
      expect(decide(rec, v, ctx)).toEqual([{ kind: 'append', event: { name: 'TapeJobCompleted', value: {
        jobId: 7, returnCode: 0, totalFiles: 2, readyFiles: 1, errorFiles: 1, comment: '1 files staged, 1 failed (first: b: tape read error)', notifyUrl: 'http://cb' } } }]);
      expect(evolveInput(v, rec).job).toMatchObject({ ready: 1, error: 1, firstError: 'b: tape read error', lastHeardAt: 1_000 });
    });
    it('is ignored after the job completed', () => {
      expect(decide({ name: 'FilesReconciled', effect, result: { ok: false, error: 'x' } }, { job: staging({ status: 'COMPLETED' }) }, ctx)).toEqual([{ kind: 'ignore', reason: 'JOB_NOT_STAGING' }]);
    });
  });

  describe('PROGRESS callbacks', () => {
    it('creates a job with the request\'s percentages, or the configured ones, ascending and in range', () => {
      const [own] = claimed({ jobId: 7, files: ['a'], obs: null, notifyUrl: 'u', progress: [50, 25, 50, 100, 0] });
      expect((own as any).event.value.progress).toEqual([25, 50]);
      const [dflt] = decide({ name: 'JobIdClaimed', effect: { kind: 'claimJobId', request: { meta: meta(), jobId: 7, files: ['a'], obs: null, notifyUrl: 'u', progress: null } }, holds: true }, { job: initialState() }, { ...ctx, progressDefault: [10] });
      expect((dflt as any).event.value.progress).toEqual([10]);
      const [none] = decide({ name: 'JobIdClaimed', effect: { kind: 'claimJobId', request: { meta: meta(), jobId: 7, files: ['a'], obs: null, notifyUrl: 'u', progress: [] } }, holds: true }, { job: initialState() }, { ...ctx, progressDefault: [10] });
      expect((none as any).event.value.progress).toEqual([]);
    });
    const batch = (staged: string[]) => ev('TapeFilesStaged', { jobId: 7, staged, failed: [], firstNotifiedAt: 1 });
    const pending = (n: number) => new Map(Array.from({ length: n }, (_, i) => [`f${i}`, 'PENDING' as const]));
    it('appends one TapeJobProgressed per percentage a batch passes, none already passed', () => {
      const job = staging({ total: 4, progress: [25, 50, 75], progressSent: 25, ready: 1 });
      const out = decide(batch(['f1', 'f2']), { job, files: pending(4) }, ctx);
      expect(out).toEqual([{ kind: 'append', event: { name: 'TapeJobProgressed', value: { jobId: 7, percent: 50, totalFiles: 4, readyFiles: 3, errorFiles: 0, notifyUrl: 'http://cb' } } },
        { kind: 'append', event: { name: 'TapeJobProgressed', value: { jobId: 7, percent: 75, totalFiles: 4, readyFiles: 3, errorFiles: 0, notifyUrl: 'http://cb' } } }]);
      expect(evolveView({ job }, (out[1] as any).event, meta()).job).toMatchObject({ progressSent: 75 });
    });
    it('sends no progress in the batch that completes the job', () => {
      const out = decide(batch(['f0', 'f1']), { job: staging({ total: 2, progress: [50] }), files: pending(2) }, ctx);
      expect(out.map((o: any) => o.event?.name)).toEqual(['TapeJobCompleted']);
    });
    it('POSTs a progress read back once with its own delivery id, unless the job is no longer staging', () => {
      const p = ev('TapeJobProgressed', { jobId: 7, percent: 50, totalFiles: 4, readyFiles: 2, errorFiles: 0, notifyUrl: 'http://cb' });
      const [o] = decide(p, { job: staging() }, ctx);
      expect(o).toMatchObject({ kind: 'effect', effect: { kind: 'deliverProgress', jobId: 7, notifyUrl: 'http://cb', body: { job_id: 7, status: 'PROGRESS', percent: 50, total_files: 4, ready_files: 2, error_files: 0 } } });
      expect((o as any).effect.deliveryId).toMatch(/^[0-9a-f-]{36}$/);
      expect(decide(p, { job: staging({ status: 'COMPLETED' }) }, ctx)).toEqual([{ kind: 'ignore', reason: 'JOB_NOT_STAGING' }]);
    });
  });

  describe('release', () => {
    const req = ev('TapeFilesReleaseRequested', { jobId: 7 });
    it('asks the library to release a job\'s staged files in any state but removed', () => {
      for (const status of ['STAGING', 'COMPLETED', 'FAILED'] as const) {
        expect(decide(req, { job: staging({ status }) }, ctx)).toEqual([{ kind: 'effect', effect: { kind: 'releaseFiles', jobId: 7 } }]);
      }
    });
    it('refuses an unknown or removed job without calling the library', () => {
      for (const job of [initialState(), staging({ status: 'CANCELLED' })]) {
        expect(decide(req, { job }, ctx)).toEqual([{ kind: 'append', event: { name: 'TapeFilesReleaseFailed', value: { jobId: 7, reason: 'NOT_FOUND', error: '' } } }]);
      }
    });
    it('records what the library released, or that it failed, and changes no job state', () => {
      const effect = { kind: 'releaseFiles', jobId: 7 } as const;
      const [done] = decide({ name: 'FilesReleased', effect, result: { ok: true, files: ['a'] } }, { job: staging() }, ctx);
      expect(done).toEqual({ kind: 'append', event: { name: 'TapeFilesReleased', value: { jobId: 7, files: ['a'] } } });
      expect(decide({ name: 'FilesReleased', effect, result: { ok: false, error: 'down' } }, { job: staging() }, ctx))
        .toEqual([{ kind: 'append', event: { name: 'TapeFilesReleaseFailed', value: { jobId: 7, reason: 'LIBRARY_ERROR', error: 'down' } } }]);
      const v = { job: staging() };
      expect(evolveView(v, (done as any).event, meta())).toBe(v);
    });
  });

  describe('timeout tick', () => {
    const tick = ev('TapeJobTimeoutChecked', { tick: 1, notificationsConsumed: 0, cache: null });
    it('completes an overdue job with 10', () => {
      const [o] = decide(tick, { job: staging({ ready: 1 }) }, { ...ctx, now: 61_000 });
      expect(o).toMatchObject({ event: { name: 'TapeJobCompleted', value: { returnCode: RC.TIMEOUT, readyFiles: 1, comment: 'timed out: 1 of 2 files not staged' } } });
    });
    it('leaves a job before its deadline alone', () => {
      expect(decide(tick, { job: staging() }, { ...ctx, now: 60_999 })).toEqual([]);
    });
  });

  describe('callback', () => {
    const done = staging({ status: 'COMPLETED', ready: 2, returnCode: 0, comment: 'ok', callback: 'PENDING', deliveryId: 'd1' });
    it('delivers the seed body once the job is finished', () => {
      const completed = ev('TapeJobCompleted', {});
      expect(decide(completed, { job: done }, ctx)).toEqual([{ kind: 'effect', effect: {
        kind: 'deliverCallback', jobId: 7, notifyUrl: 'http://cb', deliveryId: 'd1',
        body: { job_id: 7, return_code: 0, total_files: 2, ready_files: 2, error_files: 0, comment: 'ok' },
      } }]);
      expect(decide(completed, { job: { ...done, callback: 'DELIVERED' } }, ctx)).toEqual([{ kind: 'ignore', reason: 'CALLBACK_DONE' }]);
    });
    it('delivers in the batch that completed the job from its notifications, and not again when the completion is read back', () => {
      const byFiles = { name: 'TapeJobCompleted' as const, value: { jobId: 7, returnCode: RC.SUCCESS, totalFiles: 2, readyFiles: 2, errorFiles: 0, comment: 'ok', notifyUrl: 'http://cb' } };
      expect(react({ job: done }, byFiles)).toEqual([{ kind: 'effect', effect: expect.objectContaining({ kind: 'deliverCallback', deliveryId: 'd1' }) }]);
      // a timeout (many at once on the tick) is delivered when read back
      expect(react({ job: { ...done, returnCode: RC.TIMEOUT } }, { ...byFiles, value: { ...byFiles.value, returnCode: RC.TIMEOUT } })).toEqual([]);
      expect(react({ job: done }, { name: 'TapeCallbackDelivered', value: { jobId: 7, deliveryId: 'd1', attempts: 1, httpStatus: 200 } } as any)).toEqual([]);
      // tried in the completing batch and scheduled: the read-back leaves it to the tick
      expect(decide(ev('TapeJobCompleted', {}), { job: { ...done, callbackNextAt: 5_000, callbackAttempts: 3 } }, ctx)).toEqual([{ kind: 'ignore', reason: 'CALLBACK_DONE' }]);
    });
    it('reports delivered or failed with the delivery id', () => {
      expect(afterCallback(done, { ok: true, attempts: 3, httpStatus: 200 })[0]).toMatchObject({ event: { name: 'TapeCallbackDelivered', value: { deliveryId: 'd1', attempts: 3 } } });
      expect(afterCallback(done, { ok: false, attempts: 5, error: 'HTTP 500' })[0]).toMatchObject({ event: { name: 'TapeCallbackFailed', value: { error: 'HTTP 500' } } });
    });
    it('schedules rounds with backoff (or a longer Retry-After) until rounds or window run out, then fails with every attempt counted', () => {
      const policy = { rounds: 3, firstDelayMs: 1_000, maxDelayMs: 3_000, windowMs: 10_000 };
      const failed = { ok: false as const, attempts: 4, error: 'HTTP 503' };
      const [r1] = afterCallback(done, failed, { now: 100_000, policy });
      expect(r1).toEqual({ kind: 'update', update: { jobId: 7, nextAt: 101_000, rounds: 1, attempts: 4, since: 100_000, error: 'HTTP 503' } });
      let job = rescheduled(done, updateOf(r1));
      expect(dueCallback(job, 100_999)).toEqual([]);
      expect(dueCallback(job, 101_000)).toEqual([{ kind: 'effect', effect: expect.objectContaining({ kind: 'deliverCallback', deliveryId: 'd1', scheduled: true }) }]);
      const [r2] = afterCallback(job, { ...failed, attempts: 1 }, { now: 101_000, policy });
      expect(r2).toMatchObject({ kind: 'update', update: { nextAt: 103_000, rounds: 2, attempts: 5, since: 100_000 } });
      job = rescheduled(job, updateOf(r2));
      // a Retry-After longer than the backoff wins; past the window the delivery fails
      expect(afterCallback(job, { ...failed, attempts: 1, retryAfterMs: 8_000 }, { now: 103_000, policy })[0]).toMatchObject({ kind: 'append', event: { name: 'TapeCallbackFailed', value: { attempts: 6 } } });
      const [r3] = afterCallback(job, { ...failed, attempts: 1, retryAfterMs: 3_500 }, { now: 103_000, policy });
      expect(r3).toMatchObject({ kind: 'update', update: { nextAt: 106_500, rounds: 3, attempts: 6 } });
      job = rescheduled(job, updateOf(r3));
      // the rounds are used up
      expect(afterCallback(job, { ...failed, attempts: 1 }, { now: 106_500, policy })[0]).toMatchObject({ event: { name: 'TapeCallbackFailed', value: { attempts: 7, error: 'HTTP 503' } } });
      // delivered in a later round: every attempt counted
      expect(afterCallback(job, { ok: true, attempts: 1, httpStatus: 200 }, { now: 106_500, policy })[0]).toMatchObject({ event: { name: 'TapeCallbackDelivered', value: { attempts: 7 } } });
    });
    it('fails at once without rescheduling a final failure (410, another 4xx, a forbidden target)', () => {
      const policy = { rounds: 3, firstDelayMs: 1_000, maxDelayMs: 3_000, windowMs: 10_000 };
      expect(afterCallback(done, { ok: false, attempts: 1, error: 'gone', final: true }, { now: 0, policy })[0]).toMatchObject({ event: { name: 'TapeCallbackFailed', value: { error: 'gone' } } });
    });
    it('a delivery that ended drops its schedule; a cancelled job or a delivered callback is never due', () => {
      const job = updateView({ job: done }, { jobId: 7, nextAt: 5, rounds: 2, attempts: 6, since: 1, error: 'x' }).job as Job;
      expect(job).toMatchObject({ callbackNextAt: 5, callbackRounds: 2, callbackAttempts: 6, callbackSince: 1 });
      const after = evolve(job, { name: 'TapeCallbackFailed', value: { meta: meta(), jobId: 7, deliveryId: 'd1', attempts: 6, error: 'x' } } as any) as Job;
      expect(after).toMatchObject({ callback: 'FAILED', callbackNextAt: null, callbackRounds: 0, callbackAttempts: 0, callbackSince: null });
      expect(dueCallback({ ...job, status: 'CANCELLED' }, 10)).toEqual([{ kind: 'ignore', reason: 'CALLBACK_DONE' }]);
      expect(dueCallback({ ...job, callback: 'DELIVERED' }, 10)).toEqual([{ kind: 'ignore', reason: 'CALLBACK_DONE' }]);
    });
    it('resends only a failed callback on rerun, with the same delivery id', () => {
      const rerun = ev('TapeCallbackRerunRequested', { jobId: 7 });
      expect(decide(rerun, { job: { ...done, callback: 'FAILED' } }, ctx)[0]).toMatchObject({ kind: 'effect', effect: { kind: 'deliverCallback', deliveryId: 'd1' } });
      expect(decide(rerun, { job: { ...done, callback: 'DELIVERED' } }, ctx)).toEqual([{ kind: 'ignore', reason: 'CALLBACK_NOT_FAILED' }]);
    });
  });

  describe('cancel', () => {
    const cancel = ev('TapeJobCancelRequested', { jobId: 7 });
    const cancelled = (wasInFlight: boolean) => [{ kind: 'append', event: { name: 'TapeJobCancelled', value: { jobId: 7, wasInFlight } } }];
    const refused = (reason: string) => [{ kind: 'append', event: { name: 'TapeJobCancelFailed', value: { jobId: 7, reason } } }];
    const checked = (reserved: boolean) => decide({ name: 'ReservationChecked', effect: { kind: 'checkReserved', jobId: 7 }, reserved }, { job: initialState() }, ctx);
    it('calls cancelbatchstage for a staging job with files pending at the library', () => {
      expect(decide(cancel, { job: staging() }, ctx)).toEqual([{ kind: 'effect', effect: { kind: 'cancelStage', jobId: 7 } }]);
      expect(decide({ name: 'CancelStageDone', effect: { kind: 'cancelStage', jobId: 7 } }, { job: staging() }, ctx)).toEqual(cancelled(true));
    });
    it('calls cancelbatchstage for a timed-out job: its missing files are still pending at the library', () => {
      expect(decide(cancel, { job: staging({ status: 'COMPLETED', returnCode: RC.TIMEOUT, ready: 1 }) }, ctx)).toEqual([{ kind: 'effect', effect: { kind: 'cancelStage', jobId: 7 } }]);
    });
    it('removes a job without calling the library when nothing is pending there', () => {
      expect(decide(cancel, { job: staging({ status: 'COMPLETED', ready: 1, error: 1 }) }, ctx)).toEqual(cancelled(false));
      expect(decide(cancel, { job: staging({ status: 'FAILED', total: 0 }) }, ctx)).toEqual(cancelled(false));
      // batchstage failed (199) or not yet run: nothing was submitted
      expect(decide(cancel, { job: staging({ status: 'COMPLETED', returnCode: 199, submitted: false }) }, ctx)).toEqual(cancelled(false));
      expect(decide(cancel, { job: staging({ submitted: false }) }, ctx)).toEqual(cancelled(false));
    });
    it('removes a job whose accepted request is still queued, as a tombstone the request cannot revive', () => {
      expect(decide(cancel, { job: initialState() }, ctx)).toEqual([{ kind: 'effect', effect: { kind: 'checkReserved', jobId: 7 } }]);
      expect(checked(true)).toEqual(cancelled(false));
      const tomb = evolve(initialState(), ev('TapeJobCancelled', { jobId: 7, wasInFlight: false }) as any);
      expect(tomb).toMatchObject({ status: 'CANCELLED', jobId: 7 });
      const late = ev('TapeJobRequested', { jobId: 7, files: ['a'], obs: null, notifyUrl: 'u' });
      expect(decide(late, { job: tomb }, ctx)).toEqual([{ kind: 'ignore', reason: 'ALREADY_CANCELLED' }]);
    });
    it('refuses (404) an id never accepted and a job already removed, changing no state', () => {
      expect(checked(false)).toEqual(refused('NOT_FOUND'));
      const none = initialState();
      expect(evolve(none, ev('TapeJobCancelFailed', { jobId: 7, reason: 'NOT_FOUND' }) as any)).toBe(none);
      expect(decide(cancel, { job: staging({ status: 'CANCELLED' }) }, ctx)).toEqual(refused('ALREADY_CANCELLED'));
    });
  });

  describe('evolve', () => {
    const events: Record<string, Record<string, unknown>> = {
      TapeJobCreated: { jobId: 7, files: ['a', 'b'], notifyUrl: 'u', deadline: 5 },
      TapeJobCreationFailed: { jobId: 7, returnCode: 101, comment: 'none', notifyUrl: 'u' },
      TapeJobCompleted: { jobId: 7, returnCode: 0, totalFiles: 2, readyFiles: 2, errorFiles: 0, comment: 'ok', notifyUrl: 'u' },
      TapeJobCancelled: { jobId: 7, wasInFlight: true },
      TapeFilesStaged: { jobId: 7, staged: ['a'], failed: [], firstNotifiedAt: 1 },
      TapeCallbackDelivered: { jobId: 7, deliveryId: 'd', attempts: 1, httpStatus: 200 },
    };
    const states: TapeState[] = [initialState(), staging(), staging({ status: 'COMPLETED' }), staging({ status: 'FAILED' }), staging({ status: 'CANCELLED' })];
    it('only makes the status changes the TRANSITIONS table allows', () => {
      for (const s of states) {
        for (const [name, value] of Object.entries(events)) {
          let next: TapeState | undefined;
          try { next = evolve(s, ev(name, value) as any); } catch (err) { expect(err).toBeInstanceOf(InvalidEventError); continue; }
          if (next !== s) expect(TRANSITIONS[s.status]).toContain(next.status);
        }
      }
    });
    it('refuses to create a job twice or complete a cancelled one', () => {
      expect(() => evolve(staging(), ev('TapeJobCreated', events.TapeJobCreated) as any)).toThrow(InvalidEventError);
      expect(() => evolve(staging({ status: 'CANCELLED' }), ev('TapeJobCompleted', events.TapeJobCompleted) as any)).toThrow(InvalidEventError);
    });
    it('gives a finished job a callback delivery id derived from the completing event', () => {
      const a = evolve(staging(), ev('TapeJobCompleted', events.TapeJobCompleted) as any) as Job;
      const b = evolve(staging(), ev('TapeJobCompleted', events.TapeJobCompleted) as any) as Job;
      expect(a).toMatchObject({ status: 'COMPLETED', callback: 'PENDING', returnCode: 0 });
      expect(a.deliveryId).toBe(b.deliveryId);
    });
  });

  describe('the loop\'s view', () => {
    it('given a request, when TapeJobCreated is appended, then the view keeps the file list to write with the job', () => {
      const v = evolveView({ job: initialState() }, { name: 'TapeJobCreated', value: { jobId: 7, files: ['a', 'b'], notifyUrl: 'u', deadline: 5, progress: [] } }, meta());
      expect(v).toMatchObject({ job: { status: 'STAGING', total: 2 }, created: ['a', 'b'] });
    });
    it('given a refusal, when it is appended, then the view is the same object (nothing to save)', () => {
      const v = { job: initialState() };
      expect(evolveView(v, { name: 'TapeJobCancelFailed', value: { jobId: 7, reason: 'NOT_FOUND' } }, meta())).toBe(v);
    });
    it('given a due redelivery, when the tick reaches the job, then the callback is sent again as a scheduled attempt', () => {
      const job = staging({ status: 'COMPLETED', callback: 'PENDING', deliveryId: 'd1', callbackNextAt: 500 });
      const tick = { name: 'CallbackDue' as const, value: { meta: meta(), tick: 1, notificationsConsumed: 0, cache: null } as any };
      expect(decide(tick, { job }, ctx)).toEqual([{ kind: 'effect', effect: expect.objectContaining({ kind: 'deliverCallback', scheduled: true }) }]);
    });
    it('given a failed delivery with rounds left, when its result comes back, then a redelivery is scheduled as an update', () => {
      const job = staging({ status: 'COMPLETED', callback: 'PENDING', deliveryId: 'd1' });
      const effect = { kind: 'deliverCallback' as const, jobId: 7, notifyUrl: 'u', deliveryId: 'd1', body: {} as any };
      const policy = { rounds: 1, firstDelayMs: 1_000, maxDelayMs: 1_000, windowMs: 10_000 };
      const out = decide({ name: 'CallbackDone', effect, result: { ok: false, attempts: 2, error: 'HTTP 503' }, now: 50 }, { job }, { ...ctx, retry: policy });
      expect(out).toEqual([{ kind: 'update', update: { jobId: 7, nextAt: 1_050, rounds: 1, attempts: 2, since: 50, error: 'HTTP 503' } }]);
    });
  });
});

import { describe, expect, it } from 'vitest';
import { decide, evolve, evolveInput, initialState, TRANSITIONS, type RuleContext, type StagingEffect, type StagingEvent, type StagingInput, type StagingState } from './rules.ts';
import type { StagingRequested } from '../../schemas/generated/staging.ts';

const ctx: RuleContext = { now: 1_700_000_000_000, allowedMethods: ['local_copy', 'symlink_copy', 'direct_download'], storageRoot: '/mnt/a', maxActivePerUser: 0 };
const meta = { eventId: 'e1', occurredAt: ctx.now, correlationId: 'r1', causationId: null, actor: 'alice', source: 'gateway' };
const request = (over: Partial<StagingRequested> = {}): StagingRequested => ({
  meta, requestId: 'r1', method: 'local_copy', username: 'alice', localPathOnStorage: '/mnt/a/obs/f.fits', relativePath: 'proj/f.fits', notifyUrl: null, ...over,
});
const effect: StagingEffect = { kind: 'local_copy', requestId: 'r1', username: 'alice', source: ['obs', 'f.fits'], dest: ['proj', 'f.fits'], effectId: 'staging:r1' };
const body = { requestId: 'r1', method: 'local_copy', username: 'alice', localPathOnStorage: '/mnt/a/obs/f.fits', relativePath: 'proj/f.fits', notifyUrl: null };
const queued: StagingState = { status: 'QUEUED', request: body, attempt: 1 };
const failedState: StagingState = { status: 'FAILURE', request: body, attempt: 1, code: 'INTERRUPTED' };

describe('staging rules', () => {
  it('given a new request, when decided, then one effect with an id derived from the request', () => {
    expect(decide({ name: 'StagingRequested', value: request() }, initialState(), ctx)).toEqual([
      { kind: 'effect', effect },
    ]);
  });

  it('ignores a duplicate StagingRequested', () => {
    expect(decide({ name: 'StagingRequested', value: request() }, queued, ctx)).toEqual([{ kind: 'ignore', reason: 'ALREADY_HANDLED' }]);
  });

  it('refuses a method this site does not allow, naming the allowed ones', () => {
    const [out] = decide({ name: 'StagingRequested', value: request({ method: 'jupyter_copy' }) }, initialState(), ctx);
    expect(out).toMatchObject({ kind: 'append', event: { name: 'StagingFailed', value: { code: 'METHOD_NOT_ALLOWED' } } });
    expect((out as any).event.value.reason).toContain('local_copy, symlink_copy, direct_download');
  });

  it.each([
    [{ relativePath: '../x' }, 'PATH_TRAVERSAL'],
    [{ relativePath: '/etc/x' }, 'PATH_ABSOLUTE'],
    [{ localPathOnStorage: '/etc/passwd' }, 'PATH_ESCAPE'],
    [{ username: '../root' }, 'USERNAME_INVALID'],
  ])('refuses %j as %s without an effect', (over, code) => {
    const outs = decide({ name: 'StagingRequested', value: request(over) }, initialState(), ctx);
    expect(outs).toHaveLength(1);
    expect(outs[0]).toMatchObject({ kind: 'append', event: { name: 'StagingFailed', value: { code } } });
  });

  it('needs no destination for direct_download', () => {
    const [out] = decide({ name: 'StagingRequested', value: request({ method: 'direct_download', relativePath: '' }) }, initialState(), ctx);
    expect(out).toMatchObject({ kind: 'effect', effect: { kind: 'direct_download', dest: [] } });
  });

  it('turns a done effect into FileStaged and a failed one into StagingFailed', () => {
    const t = { startedAt: 1, finishedAt: 2 };
    const ok = decide({ name: 'EffectCompleted', effect, result: { ok: true, sourcePath: '/mnt/a/obs/f.fits', destination: '/u/alice/proj/f.fits', sizeBytes: 5, sha256: 'ab', skipped: true, reconciled: false, ...t } }, queued, ctx);
    expect(ok).toMatchObject([{ kind: 'append', event: { name: 'FileStaged', value: { skipped: true, sizeBytes: 5, reconciled: false } } }]);
    const ko = decide({ name: 'EffectCompleted', effect, result: { ok: false, code: 'SOURCE_NOT_FOUND', reason: 'gone', ...t } }, queued, ctx);
    expect(ko).toMatchObject([{ kind: 'append', event: { name: 'StagingFailed', value: { code: 'SOURCE_NOT_FOUND', reason: 'gone', startedAt: 1 } } }]);
  });

  it('marks a reconciled success', () => {
    const out = decide({ name: 'EffectReconciled', effect, result: { ok: true, sourcePath: 's', destination: 'd', sizeBytes: 1, sha256: null, skipped: false, reconciled: false, startedAt: 1, finishedAt: 1 } }, queued, ctx);
    expect(out).toMatchObject([{ event: { name: 'FileStaged', value: { reconciled: true } } }]);
  });

  it('ignores a result for a request that is no longer queued', () => {
    const out = decide({ name: 'EffectCompleted', effect, result: { ok: false, code: 'X', reason: 'x', startedAt: 1, finishedAt: 1 } }, { status: 'SUCCESS', request: body, attempt: 1, skipped: false }, ctx);
    expect(out).toEqual([{ kind: 'ignore', reason: 'NOT_QUEUED' }]);
  });

  it('evolve follows the TRANSITIONS table and nothing else', () => {
    const events: StagingEvent[] = [
      { name: 'StagingRequested', value: request() },
      { name: 'FileStaged', value: { requestId: 'r1', method: 'local_copy', username: 'alice', sourcePath: 's', destination: 'd', sizeBytes: 1, sha256: null, skipped: false, reconciled: false, startedAt: 1, finishedAt: 2 } },
      { name: 'StagingFailed', value: { requestId: 'r1', method: 'local_copy', username: 'alice', code: 'X', reason: 'x', startedAt: null, finishedAt: null } },
      { name: 'StagingRerunRequested', value: { requestId: 'r1', reason: 'retry' } },
    ];
    const states: StagingState[] = [initialState(), queued, { status: 'SUCCESS', request: body, attempt: 1, skipped: false }, { status: 'FAILURE', request: body, attempt: 1, code: 'X' }];
    for (const s of states) {
      for (const e of events) {
        const next = evolve(s, e);
        expect(next.status).toBe(TRANSITIONS[s.status][e.name] ?? s.status);
      }
    }
  });

  it('keeps the request body (not its meta) in the state', () => {
    expect(evolve(initialState(), { name: 'StagingRequested', value: request() })).toEqual(queued);
  });

  it('reruns a failed request as a new attempt with its own effect id', () => {
    const rerun = { meta, requestId: 'r1', reason: 'after crash' };
    expect(decide({ name: 'StagingRerunRequested', value: rerun }, failedState, ctx)).toEqual([{ kind: 'effect', effect: { ...effect, effectId: 'staging:r1:2' } }]);
    expect(evolve(failedState, { name: 'StagingRerunRequested', value: rerun })).toEqual({ status: 'QUEUED', request: body, attempt: 2 });
  });

  it('refuses a rerun of a request that did not fail, or does not exist, with StagingRerunRefused and no state change', () => {
    const rerun = { meta, requestId: 'r1', reason: '' };
    expect(decide({ name: 'StagingRerunRequested', value: rerun }, queued, ctx)).toEqual([{ kind: 'append', event: { name: 'StagingRerunRefused', value: { requestId: 'r1', code: 'NOT_FAILED', status: 'QUEUED', reason: expect.stringMatching(/status QUEUED/) } } }]);
    expect(decide({ name: 'StagingRerunRequested', value: rerun }, initialState(), ctx)).toEqual([{ kind: 'append', event: { name: 'StagingRerunRefused', value: { requestId: 'r1', code: 'NOT_FOUND', status: 'NONE', reason: expect.any(String) } } }]);
    expect(evolve(queued, { name: 'StagingRerunRefused', value: { requestId: 'r1', code: 'NOT_FAILED', status: 'QUEUED', reason: '' } })).toBe(queued);
  });

  it('given a new request, when it is decided, then the request itself moves the state to QUEUED', () => {
    const input: StagingInput = { name: 'StagingRequested', value: request() };
    expect(evolveInput(initialState(), input, decide(input, initialState(), ctx))).toEqual(queued);
  });

  it('given a duplicate request or a refused rerun, when decided, then the input leaves the state as it was', () => {
    const dup: StagingInput = { name: 'StagingRequested', value: request() };
    expect(evolveInput(queued, dup, decide(dup, queued, ctx))).toBe(queued);
    const rerun: StagingInput = { name: 'StagingRerunRequested', value: { meta, requestId: 'r1', reason: '' } };
    expect(evolveInput(queued, rerun, decide(rerun, queued, ctx))).toBe(queued);
    expect(evolveInput(failedState, rerun, decide(rerun, failedState, ctx))).toEqual({ status: 'QUEUED', request: body, attempt: 2 });
  });

  describe('per-user cap', () => {
    const capped = { ...ctx, maxActivePerUser: 3 };
    const acquire = { kind: 'acquireSlot' as const, requestId: 'r1', username: 'alice', cap: 3, then: effect };

    it('given a cap, a new request first takes one of its user\'s slots', () => {
      expect(decide({ name: 'StagingRequested', value: request() }, initialState(), capped)).toEqual([{ kind: 'effect', effect: acquire }]);
    });

    it('admitted: holds the slot and runs; not admitted: waits with its place in the queue and runs nothing', () => {
      expect(decide({ name: 'SlotAcquired', effect: acquire, admitted: true, active: 2, position: 0 }, queued, capped))
        .toEqual([{ kind: 'update', update: { slot: true } }, { kind: 'effect', effect }]);
      expect(decide({ name: 'SlotAcquired', effect: acquire, admitted: false, active: 3, position: 2 }, queued, capped))
        .toEqual([{ kind: 'append', event: { name: 'StagingWaiting', value: { requestId: 'r1', username: 'alice', active: 3, position: 2 } } }]);
    });

    it('a request holding a slot frees it after its outcome; a waiting one runs when started, once', () => {
      const result = { ok: true as const, sourcePath: 's', destination: 'd', sizeBytes: 1, sha256: 'ab', skipped: false, reconciled: false, startedAt: 1, finishedAt: 2 };
      const out = decide({ name: 'EffectCompleted', effect, result }, { ...queued, slot: true }, capped);
      expect(out.map((o) => (o.kind === 'append' ? o.event.name : o.kind === 'effect' ? o.effect.kind : o.kind))).toEqual(['FileStaged', 'releaseSlot']);
      const waiting: StagingState = { ...queued, waiting: true };
      const started = { meta, requestId: 'r1', username: 'alice', after: 'r0' };
      expect(decide({ name: 'StagingStarted', value: started }, waiting, capped)).toEqual([{ kind: 'effect', effect }]);
      expect(evolve(waiting, { name: 'StagingStarted', value: started })).toMatchObject({ status: 'QUEUED', waiting: false, slot: true });
      expect(decide({ name: 'StagingStarted', value: started }, { ...queued, slot: true }, capped)).toEqual([{ kind: 'ignore', reason: 'NOT_WAITING' }]);
    });
  });

  describe('notify_url', () => {
    const withUrl = { ...queued, request: { ...body, notifyUrl: 'http://127.0.0.1:9/hook' } } as StagingState;

    it('posts the outcome once per attempt, with the sha256, under a delivery id of request and attempt', () => {
      const result = { ok: true as const, sourcePath: 's', destination: 'd', sizeBytes: 1, sha256: 'ab', skipped: false, reconciled: false, startedAt: 1, finishedAt: 2 };
      const out = decide({ name: 'EffectCompleted', effect, result }, withUrl, ctx);
      expect(out[1]).toMatchObject({ kind: 'effect', effect: { kind: 'notify', deliveryId: 'staging-r1-1', notifyUrl: 'http://127.0.0.1:9/hook', body: { request_id: 'r1', status: 'SUCCESS', sha256: 'ab', attempt: 1 } } });
      const done = evolve(withUrl, (out[0] as any).event);
      const notified = { name: 'NotifyDone' as const, effect: (out[1] as any).effect, result: { ok: true as const, attempts: 2, httpStatus: 204 } };
      expect(decide(notified, done, ctx)).toEqual([{ kind: 'append', event: { name: 'StagingNotificationDelivered', value: { requestId: 'r1', deliveryId: 'staging-r1-1', attempts: 2, httpStatus: 204 } } }]);
      const after = evolve(done, { name: 'StagingNotificationDelivered', value: { requestId: 'r1', deliveryId: 'staging-r1-1', attempts: 2, httpStatus: 204 } });
      expect(decide(notified, after, ctx)).toEqual([{ kind: 'ignore', reason: 'ALREADY_NOTIFIED' }]);
    });

    it('records a failed delivery and notifies a refusal too', () => {
      const out = decide({ name: 'StagingRequested', value: request({ notifyUrl: 'http://127.0.0.1:9/hook', relativePath: '../x' }) }, initialState(), ctx);
      expect(out[1]).toMatchObject({ kind: 'effect', effect: { kind: 'notify', body: { status: 'FAILURE', error_code: 'PATH_TRAVERSAL', sha256: null } } });
      const failed = { status: 'FAILURE', request: { ...body, notifyUrl: 'u' }, attempt: 1, code: 'X' } as StagingState;
      const r = decide({ name: 'NotifyDone', effect: (out[1] as any).effect, result: { ok: false, attempts: 4, error: 'HTTP 500' } }, failed, ctx);
      expect(r).toEqual([{ kind: 'append', event: { name: 'StagingNotificationFailed', value: { requestId: 'r1', deliveryId: 'staging-r1-1', attempts: 4, error: 'HTTP 500' } } }]);
    });
  });
});

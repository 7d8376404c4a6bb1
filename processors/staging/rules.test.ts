import { describe, expect, it } from 'vitest';
import { decide, evolve, evolveInput, initialState, TRANSITIONS, type RuleContext, type StagingEffect, type StagingEvent, type StagingInput, type StagingState } from './rules.ts';
import type { StagingRequested } from '../../schemas/generated/staging.ts';

const ctx: RuleContext = { now: 1_700_000_000_000, allowedMethods: ['local_copy', 'symlink_copy', 'direct_download'], storageRoot: '/mnt/a' };
const meta = { eventId: 'e1', occurredAt: ctx.now, correlationId: 'r1', causationId: null, actor: 'alice', source: 'gateway' };
const request = (over: Partial<StagingRequested> = {}): StagingRequested => ({
  meta, requestId: 'r1', method: 'local_copy', username: 'alice', localPathOnStorage: '/mnt/a/obs/f.fits', relativePath: 'proj/f.fits', ...over,
});
const effect: StagingEffect = { kind: 'local_copy', requestId: 'r1', username: 'alice', source: ['obs', 'f.fits'], dest: ['proj', 'f.fits'], effectId: 'staging:r1' };
const body = { requestId: 'r1', method: 'local_copy', username: 'alice', localPathOnStorage: '/mnt/a/obs/f.fits', relativePath: 'proj/f.fits' };
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
    const ok = decide({ name: 'EffectCompleted', effect, result: { ok: true, sourcePath: '/mnt/a/obs/f.fits', destination: '/u/alice/proj/f.fits', sizeBytes: 5, skipped: true, reconciled: false, ...t } }, queued, ctx);
    expect(ok).toMatchObject([{ kind: 'append', event: { name: 'FileStaged', value: { skipped: true, sizeBytes: 5, reconciled: false } } }]);
    const ko = decide({ name: 'EffectCompleted', effect, result: { ok: false, code: 'SOURCE_NOT_FOUND', reason: 'gone', ...t } }, queued, ctx);
    expect(ko).toMatchObject([{ kind: 'append', event: { name: 'StagingFailed', value: { code: 'SOURCE_NOT_FOUND', reason: 'gone', startedAt: 1 } } }]);
  });

  it('marks a reconciled success', () => {
    const out = decide({ name: 'EffectReconciled', effect, result: { ok: true, sourcePath: 's', destination: 'd', sizeBytes: 1, skipped: false, reconciled: false, startedAt: 1, finishedAt: 1 } }, queued, ctx);
    expect(out).toMatchObject([{ event: { name: 'FileStaged', value: { reconciled: true } } }]);
  });

  it('ignores a result for a request that is no longer queued', () => {
    const out = decide({ name: 'EffectCompleted', effect, result: { ok: false, code: 'X', reason: 'x', startedAt: 1, finishedAt: 1 } }, { status: 'SUCCESS', request: body, attempt: 1, skipped: false }, ctx);
    expect(out).toEqual([{ kind: 'ignore', reason: 'NOT_QUEUED' }]);
  });

  it('evolve follows the TRANSITIONS table and nothing else', () => {
    const events: StagingEvent[] = [
      { name: 'StagingRequested', value: request() },
      { name: 'FileStaged', value: { requestId: 'r1', method: 'local_copy', username: 'alice', sourcePath: 's', destination: 'd', sizeBytes: 1, skipped: false, reconciled: false, startedAt: 1, finishedAt: 2 } },
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
});

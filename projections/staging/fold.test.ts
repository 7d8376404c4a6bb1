import { describe, expect, it } from 'vitest';
import { fold } from './fold.ts';

const meta = (id: string) => ({ eventId: id, occurredAt: 1000, actor: 'alice' });
const requested = { name: 'StagingRequested', meta: meta('e1'), offset: '5', value: { requestId: 'r1', method: 'local_copy', username: 'alice', localPathOnStorage: '/s/f', relativePath: 'f' } };

describe('staging fold', () => {
  it('given a StagingRequested, upserts a QUEUED row and logs the request', () => {
    const changes = fold(requested);
    expect(changes[0]).toEqual({ op: 'upsertRequest', row: { requestId: 'r1', method: 'local_copy', username: 'alice', localPathOnStorage: '/s/f', relativePath: 'f', actor: 'alice', requestedAt: 1000, offset: '5', notifyUrl: null } });
    expect(changes[1]).toMatchObject({ op: 'appendLog', row: { level: 'INFO', requestId: 'r1', eventId: 'e1' } });
  });

  it('completes with SUCCESS and the skipped flag, guarded by offset', () => {
    const [c, l] = fold({ name: 'FileStaged', meta: meta('e2'), offset: '6', value: { requestId: 'r1', method: 'local_copy', username: 'alice', sourcePath: '/s/f', destination: '/u/f', sizeBytes: 3, skipped: true, reconciled: false, startedAt: 1, finishedAt: 2 } });
    expect(c).toMatchObject({ op: 'completeRequest', row: { status: 'SUCCESS', skipped: true, offset: '6', destination: '/u/f' } });
    expect((l as any).row.message).toContain('Data already available at /u/f');
  });

  it('completes with FAILURE, the code and the error reason', () => {
    const [c, l] = fold({ name: 'StagingFailed', meta: meta('e3'), offset: '7', value: { requestId: 'r1', method: 'local_copy', username: 'alice', code: 'SOURCE_NOT_FOUND', reason: 'Source path does not exist: /s/f', startedAt: null, finishedAt: null } });
    expect(c).toMatchObject({ op: 'completeRequest', row: { status: 'FAILURE', errorCode: 'SOURCE_NOT_FOUND', errorReason: 'Source path does not exist: /s/f' } });
    expect(l).toMatchObject({ row: { level: 'ERROR' } });
  });

  it('ignores other events', () => {
    expect(fold({ ...requested, name: 'SampleRecorded' })).toEqual([]);
  });

  it('requeues on a rerun, guarded by offset', () => {
    const [c, l] = fold({ name: 'StagingRerunRequested', meta: meta('e4'), offset: '9', value: { requestId: 'r1', reason: 'after crash' } });
    expect(c).toEqual({ op: 'rerunRequest', row: { requestId: 'r1', offset: '9' } });
    expect((l as any).row.message).toBe('Rerun of request r1 requested: after crash');
  });

  it('logs a refused rerun and changes no request row', () => {
    const changes = fold({ name: 'StagingRerunRefused', value: { requestId: 'r1', code: 'NOT_FAILED', status: 'SUCCESS', reason: 'request r1 has status SUCCESS' }, meta: { eventId: 'e9', occurredAt: 9, actor: null }, offset: '10' });
    expect(changes).toHaveLength(1);
    expect(changes[0]).toMatchObject({ op: 'appendLog', row: { requestId: 'r1', level: 'ERROR', event: 'StagingRerunRefused', message: 'Rerun of request r1 refused: NOT_FAILED: request r1 has status SUCCESS' } });
  });
});

describe('staging fold: cap and notify_url', () => {
  it('marks a request waiting and started, and records the notification outcome, each guarded by offset', () => {
    expect(fold({ name: 'StagingWaiting', meta: meta('w'), offset: '11', value: { requestId: 'r1', username: 'alice', active: 3, position: 1 } })[0])
      .toEqual({ op: 'setWaiting', row: { requestId: 'r1', waiting: true, offset: '11' } });
    expect(fold({ name: 'StagingStarted', meta: meta('s'), offset: '12', value: { requestId: 'r1', username: 'alice', after: 'r0' } })[0])
      .toEqual({ op: 'setWaiting', row: { requestId: 'r1', waiting: false, offset: '12' } });
    expect(fold({ name: 'StagingNotificationFailed', meta: meta('n'), offset: '13', value: { requestId: 'r1', deliveryId: 'd', attempts: 4, error: 'HTTP 500' } })[0])
      .toEqual({ op: 'setNotified', row: { requestId: 'r1', notifyStatus: 'FAILED', offset: '13' } });
  });
});

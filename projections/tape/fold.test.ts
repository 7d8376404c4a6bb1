import { describe, expect, it } from 'vitest';
import type { DecodedEvent } from '../../platform/types.ts';
import { fold } from './fold.ts';

const meta = { eventId: 'e', occurredAt: 1_700_000_000_000, correlationId: 'c', causationId: null, actor: null, source: 'processor.tape' };
const ev = (name: string, value: Record<string, unknown>): DecodedEvent =>
  ({ name, value: { meta, ...value }, meta, key: '7', topic: 'dbb.tape.jobs', partition: 0, offset: '3' }) as unknown as DecodedEvent;

describe('tape fold', () => {
  it('a request creates the job row, TapeJobCreated its files', () => {
    expect(fold(ev('TapeJobRequested', { jobId: 7, files: ['a'], obs: null, notifyUrl: 'u' }))).toEqual([{ op: 'jobRequested', jobId: 7, notifyUrl: 'u', created: meta.occurredAt }]);
    expect(fold(ev('TapeJobCreated', { jobId: 7, files: ['a', 'b'], notifyUrl: 'u', deadline: 9 }))).toEqual([{ op: 'jobCreated', jobId: 7, files: ['a', 'b'], deadline: 9 }]);
  });
  it('a notification batch marks each file once, first outcome winning, at the event time', () => {
    const body = { jobId: 7, staged: ['a', 'b', 'a'], failed: [{ file: 'b', error: 'x' }, { file: 'c', error: 'y' }], firstNotifiedAt: 1 };
    expect(fold(ev('TapeFilesStaged', body))).toEqual([{
      op: 'files', jobId: 7, at: meta.occurredAt,
      files: [{ name: 'a', ready: true, error: null }, { name: 'b', ready: true, error: null }, { name: 'c', ready: false, error: 'y' }],
    }]);
  });
  it('completion takes the counts from the event', () => {
    const body = { jobId: 7, returnCode: 10, totalFiles: 3, readyFiles: 1, errorFiles: 0, comment: 't', notifyUrl: 'u' };
    expect(fold(ev('TapeJobCompleted', body))).toEqual([{ op: 'jobFinished', jobId: 7, status: 'COMPLETED', at: meta.occurredAt, returnCode: 10, comment: 't', counts: { ready: 1, error: 0 } }]);
  });
  it('callback outcomes and cancel', () => {
    expect(fold(ev('TapeCallbackFailed', { jobId: 7, deliveryId: 'd', attempts: 3, error: 'HTTP 500' }))).toEqual([{ op: 'jobSet', jobId: 7, set: { callback_status: 'FAILED', callback_attempts: 3, callback_error: 'HTTP 500' } }]);
    expect(fold(ev('TapeJobCancelled', { jobId: 7, wasInFlight: true }))).toEqual([{ op: 'jobCancelled', jobId: 7 }]);
  });
  it('the tick is the adapter heartbeat; requests with no read-model effect fold to nothing', () => {
    expect(fold(ev('TapeJobTimeoutChecked', { tick: 4, notificationsConsumed: 12, cache: '{}' }))).toEqual([{ op: 'heartbeat', at: meta.occurredAt, notificationsConsumed: 12, cache: '{}' }]);
    expect(fold(ev('TapeJobCancelRequested', { jobId: 7 }))).toEqual([]);
    expect(fold(ev('TapeJobCancelFailed', { jobId: 7, reason: 'NOT_FOUND' }))).toEqual([]);
    expect(fold(ev('SampleRecorded', { sampleId: 'x' }))).toEqual([]);
  });
});

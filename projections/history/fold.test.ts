import { describe, expect, it } from 'vitest';
import { detailOf, fold, outcomeOf } from './fold.ts';

const meta = { eventId: '00000000-0000-4000-8000-000000000001', occurredAt: 1_700_000_000_000, actor: 'alice-token', correlationId: 'c1' };
const at = (name: string, value: object, topic = 'dbb.staging.requests') => ({ name, value, meta, key: 'r1', topic, partition: 2, offset: '41' });

describe('history fold', () => {
  it('turns an event into one row keyed by its log position, with the actor and entity key', () => {
    expect(fold(at('StagingRequested', { requestId: 'r1' }))).toEqual({
      topic: 'dbb.staging.requests', partition: 2, offset: '41', domain: 'staging', entityKey: 'r1', event: 'StagingRequested',
      occurredAt: meta.occurredAt, actor: 'alice-token', outcome: 'REQUESTED', detail: null, correlationId: 'c1', eventId: meta.eventId,
    });
  });

  it('names the domain from the topic', () => {
    expect(fold(at('DidDeleted', { scope: 's', name: 'n' }, 'dbb.ivoa.dids'))?.domain).toBe('ivoa');
  });

  it('classifies requests, failures, refusals and other outcomes by the event name', () => {
    expect(['TapeJobCancelRequested', 'StagingFailed', 'StagingRerunRefused', 'FileStaged', 'DidDeleted'].map(outcomeOf))
      .toEqual(['REQUESTED', 'FAILED', 'REFUSED', 'DONE', 'DONE']);
  });

  it('summarises status words and errors found in the payload', () => {
    expect(detailOf({ code: 'SOURCE_NOT_FOUND', reason: 'no such file' })).toBe('SOURCE_NOT_FOUND: no such file');
    expect(detailOf({ returnCode: 0, comment: 'done' })).toBe('returnCode 0; done');
    expect(detailOf({ dstatus: 'FROZEN' })).toBe('FROZEN');
    expect(detailOf({ error: 'HTTP 500' })).toBe('HTTP 500');
    expect(detailOf({ requestId: 'r1' })).toBeNull();
  });

  it('skips bookkeeping events that belong to no entity', () => {
    expect(fold(at('TapeJobTimeoutChecked', { tick: 1 }, 'dbb.tape.jobs'))).toBeNull();
  });
});

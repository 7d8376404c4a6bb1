import { describe, expect, it } from 'vitest';
import { derivedId, newId } from './ids.ts';
import { REPLY_PARTITIONS, replyCopy, replyPartitionOf, routedCorrelationId } from './reply-route.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('reply routing', () => {
  it('a routed correlation id is a UUIDv8 that names its partition', () => {
    for (let p = 0; p < REPLY_PARTITIONS; p++) {
      const id = routedCorrelationId(p);
      expect(id).toMatch(UUID);
      expect(replyPartitionOf(id)).toBe(p);
    }
    expect(routedCorrelationId(5)).not.toBe(routedCorrelationId(5));
    expect(() => routedCorrelationId(REPLY_PARTITIONS)).toThrow(RangeError);
  });
  it('random (v4) and derived (v5) ids, and non-UUIDs, name no partition', () => {
    for (let i = 0; i < 200; i++) expect(replyPartitionOf(newId())).toBeNull();
    expect(replyPartitionOf(derivedId('x', 1))).toBeNull();
    expect(replyPartitionOf('job-42')).toBeNull();
    expect(replyPartitionOf(undefined)).toBeNull();
  });
  it('copies an outcome of a routed correlation to its partition, never a request or an unrouted event', () => {
    const cid = routedCorrelationId(7);
    const rec = (event: string, correlation: string) => ({ topic: 't1.dbb.staging.requests', key: 'k', value: Buffer.from('v'), headers: { 'dbb-event': event, 'dbb-correlation-id': correlation } });
    expect(replyCopy(rec('FileStaged', cid), 't1.dbb.gateway.replies')).toMatchObject({ topic: 't1.dbb.gateway.replies', partition: 7, key: 'k', value: Buffer.from('v') });
    expect(replyCopy(rec('StagingRequested', cid), 't1.dbb.gateway.replies')).toBeNull();
    expect(replyCopy(rec('GwChunkReceived', cid), 't1.dbb.gateway.replies')).toBeNull();
    expect(replyCopy(rec('FileStaged', newId()), 't1.dbb.gateway.replies')).toBeNull();
  });
});

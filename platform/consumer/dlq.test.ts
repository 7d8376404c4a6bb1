// Dead-letter routing: the .dlq record keeps the original key, bytes and headers and says why.
import { describe, expect, it } from 'vitest';
import { InvalidEventError } from '../errors.ts';
import { dlqRecord } from './dlq.ts';
import { message } from './testing.ts';

describe('dead-letter record', () => {
  const bytes = Buffer.from([0, 1, 2, 0xff, 0xfe]);
  const m = message(42, bytes, { key: 'ds-1', headers: { 'dbb-event': 'GwChunkReceived', trace: Buffer.from('t1') } });

  it('given a record rejected as invalid, when dead-lettered, then it goes to <topic>.dlq with its original key and bytes', () => {
    const r = dlqRecord('processor.gw', 'ns.dbb.gw.requests', 1, m, new InvalidEventError('bad size'));
    expect(r.topic).toBe('ns.dbb.gw.requests.dlq');
    expect(r.key).toEqual(Buffer.from('ds-1')); // the bytes as read: a key need not be text
    expect(Buffer.compare(r.value as Buffer, bytes)).toBe(0);
  });

  it('given a record rejected as invalid, when dead-lettered, then headers keep the originals and add the error and origin', () => {
    const r = dlqRecord('processor.gw', 'ns.dbb.gw.requests', 1, m, new InvalidEventError('bad size'));
    expect(r.headers).toMatchObject({
      'dbb-event': 'GwChunkReceived',
      trace: Buffer.from('t1'),
      'dbb-error': 'bad size',
      'dbb-error-code': 'DBB_EVENT_INVALID',
      'dbb-original-topic': 'ns.dbb.gw.requests',
      'dbb-original-partition': '1',
      'dbb-original-offset': '42',
      'dbb-consumer': 'processor.gw',
    });
    expect(m.headers!['dbb-error']).toBeUndefined(); // the fetched message is not modified
  });

  it('given an error without a code and a very long message, when dead-lettered, then the code is the error name and the message is cut at 2000', () => {
    const r = dlqRecord('p', 't', 0, message(0, null), new TypeError('x'.repeat(5000)));
    expect(r.headers!['dbb-error-code']).toBe('TypeError');
    expect((r.headers!['dbb-error'] as string).length).toBe(2000);
    expect(r.key).toBeNull();
    expect(r.value).toBeNull();
  });
});

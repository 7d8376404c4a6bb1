import { describe, expect, it } from 'vitest';
import type { DecodedEvent } from '../../platform/types.ts';
import { fold } from './fold.ts';

const meta = { eventId: 'e', occurredAt: 1700000000000, correlationId: 'c', causationId: 'x', actor: 'alice', source: 'processor.gw' };
const ev = (name: string, value: Record<string, unknown>, offset = '7'): DecodedEvent =>
  ({ name, value: { meta, ...value }, meta, key: 'ds1', topic: 'dbb.gw.datastore', partition: 0, offset }) as unknown as DecodedEvent;

describe('fold', () => {
  it('GwChunkStored sets the counters from the event, adds the file and logs it', () => {
    const body = { datastoreId: 'ds1', fileName: 'gw_1.json', bytes: 30, nSamples: 2, t0: 5, dt: 0.5, nItm: 1, buffSize: 30, reconciled: false };
    expect(fold(ev('GwChunkStored', body))).toEqual([
      { op: 'datastore', datastoreId: 'ds1', set: { dstatus: 'OPERATIONAL', n_itm: 1, buff_size: 30 } },
      { op: 'addFile', datastoreId: 'ds1', fileName: 'gw_1.json', bytes: 30, nSamples: 2, t0: 5, dt: 0.5, storedAt: meta.occurredAt },
      { op: 'history', datastoreId: 'ds1', eventName: 'GwChunkStored', occurredAt: meta.occurredAt, correlationId: 'c', actor: 'alice', body },
    ]);
  });

  it('BufferFrozen records FROZEN, the counts and who froze it', () => {
    const [first] = fold(ev('BufferFrozen', { datastoreId: 'ds1', user: 'u', tokenOwner: 't', n_f: 3, bt_wrt: 90 }));
    expect(first).toEqual({ op: 'datastore', datastoreId: 'ds1', set: { dstatus: 'FROZEN', n_itm: 3, buff_size: 90, user: 'u', token_owner: 't' } });
  });

  it('BufferFlushed zeroes the counters and marks the buffered files archived', () => {
    const changes = fold(ev('BufferFlushed', { datastoreId: 'ds1', archivePath: '/a/b', n_f: 3, bt_wrt: 90, msg: '', reconciled: false }));
    expect(changes.slice(0, 2)).toEqual([
      { op: 'datastore', datastoreId: 'ds1', set: { dstatus: 'OPERATIONAL', n_itm: 0, buff_size: 0, last_archive: '/a/b' } },
      { op: 'archiveFiles', datastoreId: 'ds1', archivePath: '/a/b' },
    ]);
  });

  it('GwChunkFailed and TrainDeferred only touch status/user and the log', () => {
    expect(fold(ev('GwChunkFailed', { datastoreId: 'ds1', reason: 'FROZEN', nSamples: 1, t0: 0 }))[0]).toEqual({ op: 'datastore', datastoreId: 'ds1', set: { dstatus: 'FROZEN' } });
    expect(fold(ev('TrainDeferred', { datastoreId: 'ds1', user: 'u', tokenOwner: 't', n_f: 0, bt_wrt: 0, maxSize: 9 }))[0])
      .toEqual({ op: 'datastore', datastoreId: 'ds1', set: { dstatus: 'OPERATIONAL', user: 'u', token_owner: 't' } });
  });

  it('ignores events it does not know', () => {
    expect(fold(ev('SampleRecorded', { sampleId: 'x' }))).toEqual([]);
  });
});

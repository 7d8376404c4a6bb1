import { describe, expect, it } from 'vitest';
import { fold } from './fold.ts';
import type { DecodedEvent } from '../../platform/types.ts';

const ev = (name: string, value: Record<string, unknown>, offset = '0'): DecodedEvent => {
  const meta = { eventId: `e${offset}`, occurredAt: 1000 + Number(offset), correlationId: 'c', causationId: null, actor: 'op', source: 't' };
  return { name: name as any, value: { meta, ...value } as any, meta, key: 'f1', topic: 'dbb.ingest.files', partition: 0, offset };
};

describe('ingest fold', () => {
  it('upserts the file on FileMoved with status UNTRIED allowed only from NONE, and records the event', () => {
    const [file, event] = fold(ev('FileMoved', { fileId: 'f1', relPath: 'a', sourcePath: '/b/a', storagePath: '/s/a', size: 3, checksum: 'c' }, '5'));
    expect(file).toMatchObject({ op: 'file', upsert: true, fileId: 'f1', offset: '5', status: { to: 'UNTRIED', from: ['NONE'] }, fields: { storagePath: '/s/a', inStorage: true } });
    expect(event).toMatchObject({ op: 'event', eventId: 'e5', status: 'UNTRIED', event: 'FileMoved', actor: 'op' });
  });

  it('updates only on later events and carries attempt details', () => {
    const [file, event] = fold(ev('IngestAttempted', { fileId: 'f1', attempt: 2, plugin: 'Registry', status: 'FAILURE', durationMs: 7, error: 'boom', details: '{"x":1}' }, '9'));
    expect(file).toMatchObject({ upsert: false, status: { to: 'FAILURE', from: ['PENDING', 'RERUN'] }, fields: { lastError: 'boom' } });
    expect(event).toMatchObject({ attempt: 2, durationMs: 7, error: 'boom', details: { x: 1 }, plugin: 'Registry' });
  });

  it('ignores events of other domains and keeps finder events status-less', () => {
    expect(fold({ ...ev('SampleRecorded', {}), name: 'SampleRecorded' as any })).toEqual([]);
    const [file] = fold(ev('DuplicateFound', { fileId: 'f1', relPath: 'a', sourcePath: '/b/a', storagePath: '/s/a', size: 3, checksum: 'c', action: 'Keep' }));
    expect(file).toMatchObject({ status: null, fields: { finderAction: 'Keep' } });
  });
  it('moves a file out of storage into quarantine and back, without changing its status', () => {
    const [q, qe] = fold(ev('FileQuarantined', { fileId: 'f1', attempt: 1, storagePath: '/s/a', quarantinePath: '/q/a', reasonPath: '/q/a.reason.json', error: 'boom' }, '10'));
    expect(q).toMatchObject({ upsert: false, status: null, fields: { inStorage: false, quarantinePath: '/q/a' } });
    expect(qe).toMatchObject({ event: 'FileQuarantined', error: 'boom', details: { quarantinePath: '/q/a', reasonPath: '/q/a.reason.json' } });
    const [r] = fold(ev('FileRestored', { fileId: 'f1', quarantinePath: '/q/a', storagePath: '/s/a' }, '11'));
    expect(r).toMatchObject({ upsert: false, status: null, fields: { inStorage: true, quarantinePath: null } });
  });
});

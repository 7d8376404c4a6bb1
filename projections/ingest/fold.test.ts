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
});

import { describe, expect, it } from 'vitest';
import { parseStorageEvent, resolveEventPath } from './storage-events.ts';

const at = { topic: 'dbb.ingest.storage-events', partition: 1, offset: '7', timestamp: 1_700_000_000_000 };
const json = (v: unknown) => Buffer.from(JSON.stringify(v));
const s3 = (records: object[]) => json({ EventName: 's3:ObjectCreated:Put', Key: 'raw/x', Records: records });
const rec = (key: string, o: { name?: string; sequencer?: string; bucket?: string } = {}) => ({
  eventVersion: '2.0', eventSource: 'minio:s3', eventTime: '2026-12-07T22:00:00.000Z', eventName: o.name ?? 's3:ObjectCreated:Put',
  s3: { bucket: { name: o.bucket ?? 'raw' }, object: { key, size: 10, eTag: 'e1', sequencer: o.sequencer ?? '17A' } },
});

describe('storage events', () => {
  it('reads the created objects of an S3/MinIO notification, URL-decoding keys, skipping removals', () => {
    const e = parseStorageEvent(s3([rec('night/a+b%2Bc.fits'), rec('gone.fits', { name: 's3:ObjectRemoved:Delete' }), rec('x.fits', { name: 'ObjectCreated:CompleteMultipartUpload' })]), at);
    expect(e).toMatchObject({ shape: 's3', paths: ['night/a b+c.fits', 'x.fits'], skipped: 1, occurredAt: Date.parse('2026-12-07T22:00:00.000Z') });
    expect(parseStorageEvent(s3([rec('k.fits', { bucket: 'raw' })]), at, { bucketDir: true }).paths).toEqual(['raw/k.fits']);
  });

  it('gives a redelivered notification the same id and a new upload of the same key another', () => {
    const a = parseStorageEvent(s3([rec('a.fits')]), at).eventId;
    expect(parseStorageEvent(s3([rec('a.fits')]), { ...at, offset: '99' }).eventId).toBe(a);
    expect(parseStorageEvent(s3([rec('a.fits', { sequencer: '17B' })]), at).eventId).not.toBe(a);
  });

  it('reads a plain {path}; its id is the producer id, else the record position', () => {
    expect(parseStorageEvent(json({ path: '/buf/a.fits' }), at)).toMatchObject({ shape: 'path', paths: ['/buf/a.fits'], occurredAt: at.timestamp });
    const byPos = parseStorageEvent(json({ path: 'a' }), at).eventId;
    expect(parseStorageEvent(json({ path: 'a' }), { ...at, offset: '8' }).eventId).not.toBe(byPos);
    expect(parseStorageEvent(json({ path: 'a', id: 'x1' }), at).eventId).toBe(parseStorageEvent(json({ path: 'b', id: 'x1' }), { ...at, offset: '8' }).eventId);
  });

  it('refuses what is not a storage event', () => {
    expect(() => parseStorageEvent(Buffer.from('not json'), at)).toThrow(/not JSON/);
    expect(() => parseStorageEvent(null, at)).toThrow(/empty/);
    expect(() => parseStorageEvent(json([1]), at)).toThrow(/object/);
    expect(() => parseStorageEvent(json({ file: 'a' }), at)).toThrow(/neither/);
    expect(() => parseStorageEvent(json({ Records: [{ eventName: 's3:ObjectCreated:Put' }] }), at)).toThrow(/s3\.object\.key/);
    expect(() => parseStorageEvent(s3([rec('%E0%A4%A')]), at)).toThrow(/URL encoding/);
    expect(() => parseStorageEvent(json({ path: '' }), at)).toThrow(/empty/);
  });

  it('resolves paths below the buffer root with the staging path rules', () => {
    expect(resolveEventPath('night/a.fits', '/buf')).toEqual({ ok: true, rel: 'night/a.fits', components: ['night', 'a.fits'] });
    expect(resolveEventPath('/buf/night/a.fits', '/buf/')).toMatchObject({ ok: true, rel: 'night/a.fits' });
    expect(resolveEventPath('../etc/passwd', '/buf')).toMatchObject({ ok: false, code: 'PATH_TRAVERSAL', reason: expect.stringMatching(/^path must not contain '\.\.'/) });
    expect(resolveEventPath('night/../../x', '/buf')).toMatchObject({ ok: false, code: 'PATH_TRAVERSAL' });
    expect(resolveEventPath('/bufx/a.fits', '/buf')).toMatchObject({ ok: false, code: 'PATH_ESCAPE', reason: expect.stringMatching(/outside the buffer root/) });
    expect(resolveEventPath('/etc/passwd', '/buf')).toMatchObject({ ok: false, code: 'PATH_ESCAPE' });
    expect(resolveEventPath('a//b', '/buf')).toMatchObject({ ok: false, code: 'PATH_INVALID' });
    expect(resolveEventPath('a\0b', '/buf')).toMatchObject({ ok: false, code: 'PATH_NUL' });
  });
});

import { describe, expect, it } from 'vitest';
import { InvalidEventError } from '../../platform/errors.ts';
import type { DecodedEvent } from '../../platform/types.ts';
import { fold } from './fold.ts';
import { collapse } from './apply.ts';
import { COLUMN_NAMES, DATALINK_FORMAT, obscoreRow, parsePublisherDid, publisherDid } from './obscore.ts';

const id = { authority: 'ivo://test.org/rucio', publicUrl: 'http://gw.example' };
const meta = { eventId: '00000000-0000-4000-8000-000000000001', occurredAt: 0, correlationId: 'c', causationId: null, actor: null, source: 't' };
const ev = (name: string, value: Record<string, unknown>, offset = '7'): DecodedEvent =>
  ({ name, value: { meta, ...value }, meta, key: `${value.scope}:${value.name}`, topic: 'dbb.ivoa.dids', partition: 0, offset } as unknown as DecodedEvent);

describe('obscoreRow', () => {
  it('maps metadata keys onto ObsCore columns and fills the seed defaults', () => {
    const row = obscoreRow('testing', 'img1.fits', JSON.stringify({ s_ra: '10.5', s_dec: -20, calib_level: 2, dataproduct_type: 'image', target_name: 'M31' }), id);
    expect(Object.keys(row).sort()).toEqual([...COLUMN_NAMES].sort());
    expect(row).toMatchObject({
      s_ra: 10.5, s_dec: -20, calib_level: 2, dataproduct_type: 'image', target_name: 'M31',
      obs_collection: 'testing', obs_id: 'img1.fits', obs_publisher_did: 'ivo://test.org/rucio?testing:img1.fits',
      access_url: 'http://gw.example/datalink?ID=ivo%3A%2F%2Ftest.org%2Frucio%3Ftesting%3Aimg1.fits', access_format: DATALINK_FORMAT,
      rucio_did_scope: 'testing', rucio_did_name: 'img1.fits', s_region: null,
    });
  });

  it('turns an STC-S polygon into pgSphere text', () => {
    const row = obscoreRow('s', 'n', JSON.stringify({ s_ra: 1, s_dec: 1, s_region: 'POLYGON ICRS 0 0 2 0 2 2' }), id);
    expect(row.s_region).toBe('{(0d,0d),(2d,0d),(2d,2d)}');
  });

  it.each([
    [{ s_ra: 360, s_dec: 0 }, /s_ra=360 is outside/],
    [{ s_ra: -1, s_dec: 0 }, /s_ra=-1 is outside/],
    [{ s_ra: 1, s_dec: 91 }, /s_dec=91 is outside/],
    [{ s_ra: 'abc', s_dec: 0 }, /s_ra must be a finite number/],
    [{ s_ra: 1 }, /must be given together/],
    [{ s_ra: 1, s_dec: 1, s_region: 'POLYGON 0 0 2 0 2 95' }, /s_dec=95/],
  ])('rejects invalid coordinates %j', (md, reason) => {
    expect(() => obscoreRow('s', 'n', JSON.stringify(md), id)).toThrow(InvalidEventError);
    expect(() => obscoreRow('s', 'n', JSON.stringify(md), id)).toThrow(reason);
  });

  it('rejects metadata that is not a JSON object', () => {
    expect(() => obscoreRow('s', 'n', '[1]', id)).toThrow(/must be a JSON object/);
    expect(() => obscoreRow('s', 'n', '{', id)).toThrow(/not JSON/);
  });
});

describe('publisher DIDs', () => {
  it('round-trips scope:name, names may contain colons', () => {
    expect(parsePublisherDid(publisherDid('ivo://a/b', 'sc', 'x:y.fits'))).toEqual({ scope: 'sc', name: 'x:y.fits' });
    expect(parsePublisherDid('sc:n')).toEqual({ scope: 'sc', name: 'n' });
    expect(parsePublisherDid('ivo://a/b')).toBeNull();
    expect(parsePublisherDid('nocolon')).toBeNull();
  });
});

describe('fold', () => {
  it('given DidRegistered then an ObsCore upsert at the event offset', () => {
    const [c] = fold(ev('DidRegistered', { scope: 's', name: 'n', didType: 'FILE', metadata: '{"s_ra":1,"s_dec":2}' }, '42'), id);
    expect(c).toMatchObject({ op: 'upsertObscore', scope: 's', name: 'n', offset: 42n });
  });

  it('given DidMetadataUpdated then the whole row is replaced (absent keys become null)', () => {
    const [c] = fold(ev('DidMetadataUpdated', { scope: 's', name: 'n', metadata: '{"s_ra":3,"s_dec":4}' }), id);
    expect(c).toMatchObject({ op: 'upsertObscore', row: { s_ra: 3, s_dec: 4, target_name: null } });
  });

  it('given DidDeleted, ReplicaAdded, ReplicaRemoved then the matching changes', () => {
    expect(fold(ev('DidDeleted', { scope: 's', name: 'n' }), id)[0]).toMatchObject({ op: 'deleteDid', offset: 7n });
    expect(fold(ev('ReplicaAdded', { scope: 's', name: 'n', rse: 'R1', accessUrl: 'root://x', site: 'A', siteLat: 10, siteLon: 20 }), id)[0])
      .toMatchObject({ op: 'upsertReplica', rse: 'R1', siteLat: 10 });
    expect(fold(ev('ReplicaRemoved', { scope: 's', name: 'n', rse: 'R1' }), id)[0]).toMatchObject({ op: 'removeReplica', rse: 'R1' });
  });

  it('rejects a replica with invalid site coordinates', () => {
    expect(() => fold(ev('ReplicaAdded', { scope: 's', name: 'n', rse: 'R', accessUrl: 'u', site: 'A', siteLat: 95, siteLon: 0 }), id)).toThrow(InvalidEventError);
  });

  it('ignores other event types', () => {
    expect(fold(ev('SampleRecorded', { scope: 's', name: 'n' }), id)).toEqual([]);
  });
});

describe('collapse', () => {
  it('keeps the last change per replica, and per DID the last upsert and the last delete', () => {
    const a = fold(ev('DidRegistered', { scope: 's', name: 'n', didType: 'FILE', metadata: '{}' }, '1'), id);
    const b = fold(ev('DidDeleted', { scope: 's', name: 'n' }, '2'), id);
    const r = fold(ev('ReplicaAdded', { scope: 's', name: 'n', rse: 'R', accessUrl: 'u', site: 'A', siteLat: 0, siteLon: 0 }, '3'), id);
    const x = fold(ev('ReplicaRemoved', { scope: 's', name: 'n', rse: 'R' }, '4'), id);
    const c = fold(ev('DidRegistered', { scope: 's', name: 'n', didType: 'FILE', metadata: '{}' }, '5'), id);
    expect(collapse([...a, ...r, ...b, ...x, ...c]).map((ch) => `${ch.op}@${ch.offset}`).sort()).toEqual(['deleteDid@2', 'removeReplica@4', 'upsertObscore@5']);
  });
});

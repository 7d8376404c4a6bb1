import { describe, expect, it } from 'vitest';
import { parseDumpLine, DumpLineError } from './parse.ts';

describe('parseDumpLine', () => {
  it('turns a Rucio-style DID record with replicas into DidRegistered then ReplicaAdded', () => {
    const evs = parseDumpLine(JSON.stringify({ scope: 's', name: 'n', type: 'FILE', metadata: { s_ra: 1 }, replicas: [{ rse: 'R1', url: 'root://a/n', site: 'A', lat: 1, lon: 2 }] }));
    expect(evs).toEqual([
      { name: 'DidRegistered', key: 's:n', body: { scope: 's', name: 'n', didType: 'FILE', metadata: '{"s_ra":1}' } },
      { name: 'ReplicaAdded', key: 's:n', body: { scope: 's', name: 'n', rse: 'R1', accessUrl: 'root://a/n', site: 'A', siteLat: 1, siteLon: 2 } },
    ]);
  });

  it('knows the explicit ops', () => {
    expect(parseDumpLine('{"op":"set_metadata","scope":"s","name":"n","metadata":"{\\"a\\":1}"}')[0]).toMatchObject({ name: 'DidMetadataUpdated', body: { metadata: '{"a":1}' } });
    expect(parseDumpLine('{"op":"delete_did","scope":"s","name":"n"}')[0].name).toBe('DidDeleted');
    expect(parseDumpLine('{"op":"remove_replica","scope":"s","name":"n","rse":"R"}')[0]).toMatchObject({ name: 'ReplicaRemoved', body: { rse: 'R' } });
    expect(parseDumpLine('{"op":"replica","scope":"s","name":"n","rse":"R","access_url":"u","site":"X","site_lat":"3","site_lon":4}')[0])
      .toMatchObject({ name: 'ReplicaAdded', body: { siteLat: 3, siteLon: 4 } });
  });

  it('skips blank lines and refuses malformed ones', () => {
    expect(parseDumpLine('  ')).toEqual([]);
    expect(() => parseDumpLine('{')).toThrow(DumpLineError);
    expect(() => parseDumpLine('{"scope":"s"}')).toThrow(/"name"/);
    expect(() => parseDumpLine('{"op":"zap","scope":"s","name":"n"}')).toThrow(/unknown op/);
    expect(() => parseDumpLine('{"op":"replica","scope":"s","name":"n","rse":"R","url":"u","site":"X","lat":"north","lon":1}')).toThrow(/"lat"/);
  });
});

describe('the sample dump in test/fixtures/ivoa', () => {
  it('parses every line into the events it names', async () => {
    const { readFileSync } = await import('node:fs');
    const text = readFileSync(new URL('../../test/fixtures/ivoa/sample-dump.jsonl', import.meta.url), 'utf8');
    const names = text.split('\n').flatMap((l) => parseDumpLine(l)).map((e) => e.name);
    expect(names).toEqual(['DidRegistered', 'ReplicaAdded', 'ReplicaAdded', 'DidRegistered', 'ReplicaAdded', 'ReplicaAdded', 'DidMetadataUpdated',
      'DidRegistered', 'ReplicaRemoved', 'DidRegistered', 'DidDeleted']);
  });
});

// ivoa end to end on the real stack: a DID dump through the feeder into Kafka, the ObsCore projection,
// and pyvo/astropy (the real IVOA client) against the gateway's SCS and DataLink over HTTP.
// IVOA clients send no bearer token (pyvo's DataLink ignores the session), so the ivoa-seed group is opened.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestStack, eventually, type TestStack } from './support/stack.ts';
import { createIvoaProjection } from '../projections/ivoa/index.ts';
import { getCounts } from '../projections/ivoa/queries.ts';
import { ivoaStats } from '../projections/ivoa/stats.ts';
import { loadDidDump } from '../producers/did-feeder/index.ts';
import { replayProjection } from '../platform/replay.ts';
import { ns } from '../platform/config.ts';
import { TOPIC } from '../schemas/generated/index.ts';
import { greatCircleKm } from '../projections/ivoa/geo.ts';
import { bruteCone, dumpLine, makeDids, pyvo, SITES, writeDump, type FixtureDid } from './ivoa/support.ts';

const N = 300;
let stack: TestStack;
let base: string;
let token: string;
let dir: string;
const dids: FixtureDid[] = makeDids(N);

const pubDid = (d: { scope: string; name: string }) => `ivo://dbb.local/rucio?${d.scope}:${d.name}`;

beforeAll(async () => {
  stack = await startTestStack({ consumers: (deps) => [createIvoaProjection(deps)], env: { DBB_ANONYMOUS_ROUTES: 'ivoa-seed', IVOA_SITE_LAT: String(SITES.UKSRC.lat), IVOA_SITE_LON: String(SITES.UKSRC.lon) } });
  base = await stack.listen();
  token = stack.tokens.reader;
  dir = mkdtempSync(join(tmpdir(), 'ivoa-e2e-'));
  const lines = dids.map(dumpLine);
  lines.push(JSON.stringify({ scope: 'testing', name: 'bad-dec.fits', metadata: { s_ra: 10, s_dec: 95 } }));
  lines.push('{ this is not json');
  const res = await loadDidDump(stack.appender, writeDump(dir, lines));
  expect(res.badLines).toEqual([{ line: N + 2, error: expect.stringContaining('not JSON') }]);
  expect(res.events).toBe(N + 1 + dids.reduce((n, d) => n + d.replicas.length, 0));
  await eventually(async () => expect(await getCounts(stack.db)).toMatchObject({ rows: N, dids: N }), { timeoutMs: 90_000 });
}, 180_000);

afterAll(async () => {
  await stack?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('ObsCore projection', () => {
  it('stats report rows, DIDs, replicas and no lag behind the log once caught up', async () => {
    const replicas = dids.reduce((n, d) => n + d.replicas.length, 0);
    await eventually(async () => {
      const s = await ivoaStats({ db: stack.db, kafka: stack.platform.kafka, config: stack.config });
      expect(s).toMatchObject({ rows: N, dids: N, replicas, deletedDids: 0, lag: 0 });
      expect(s.partitions.reduce((n, p) => n + p.end, 0)).toBe(N + 1 + replicas);
    }, { timeoutMs: 60_000 });
  });

  it('dead-letters a DID with invalid coordinates, with the reason', async () => {
    const consumer = stack.platform.kafka.consumer({ groupId: `${stack.config.namespace}ivoa-dlq-check` });
    await consumer.connect();
    await consumer.subscribe({ topics: [ns(stack.config, `${TOPIC.IVOA_DIDS}.dlq`)], fromBeginning: true });
    const seen: { key: string; error: string }[] = [];
    await consumer.run({ eachMessage: async ({ message }) => { seen.push({ key: String(message.key), error: String(message.headers?.['dbb-error'] ?? '') }); } });
    try {
      await eventually(() => expect(seen).toContainEqual({ key: 'testing:bad-dec.fits', error: expect.stringMatching(/invalid coordinates: s_dec=95 is outside/) }), { timeoutMs: 60_000 });
    } finally {
      await consumer.disconnect();
    }
    const { rows } = await stack.db.query("SELECT 1 FROM projection_ivoa.obscore WHERE rucio_did_name = 'bad-dec.fits'");
    expect(rows).toHaveLength(0);
  });

  it('fills the ObsCore row from the metadata, with a DataLink access_url', async () => {
    const d = dids[5];
    const { rows } = await stack.db.query('SELECT * FROM projection_ivoa.obscore WHERE rucio_did_name = $1', [d.name]);
    expect(rows[0]).toMatchObject({
      s_ra: d.ra, s_dec: d.dec, obs_publisher_did: pubDid(d), obs_id: d.name, obs_collection: 'SKA-test', calib_level: 2,
      access_format: 'application/x-votable+xml;content=datalink', rucio_did_scope: 'testing', rucio_did_name: d.name,
    });
    expect(rows[0].access_url).toContain(`/datalink?ID=${encodeURIComponent(pubDid(d))}`);
  });
});

describe('Simple Cone Search through the gateway', () => {
  it.each([
    [15, 0, 1.0], [12.3, -2.2, 0.5], [18, 4, 0.25], [11, 1, 0.1], [0, 0, 0.1], [0, 90, 0.2],
  ])('pyvo cone RA=%s DEC=%s SR=%s agrees with a brute-force great-circle check over all rows', async (ra, dec, sr) => {
    const out = await pyvo(token, 'scs', `${base}/scs`, String(ra), String(dec), String(sr));
    expect(out.ok).toBe(true);
    const expected = bruteCone(dids, ra, dec, sr);
    const got = out.rows.map((r: { id: string }) => r.id.slice(r.id.indexOf('?') + 1).split(':').slice(1).join(':')).sort();
    expect(got).toEqual(expected);
    if (ra === 15) expect(expected.length).toBeGreaterThan(3);
    if (ra === 0 && dec === 0) expect(expected).toEqual(['obs-00000.fits', 'obs-00001.fits']);
  });

  it('answers a VOTable that astropy parses with every spec warning turned into an error', async () => {
    const out = await pyvo(token, 'validate', `${base}/scs?RA=15&DEC=0&SR=1&VERB=3`);
    expect(out).toMatchObject({ ok: true, status: 200, infos: { QUERY_STATUS: 'OK' } });
    expect(out.rows).toBe(bruteCone(dids, 15, 0, 1).length);
  });

  it.each([
    ['RA=abc&DEC=0&SR=1', /RA must be a number/],
    ['RA=10&SR=1', /DEC is required/],
    ['RA=10&DEC=0&SR=-1', /SR=-1 is outside/],
    ['RA=10&DEC=91&SR=1', /DEC=91 is outside/],
  ])('a malformed cone (%s) gives an SCS error document, not a 500', async (qs, reason) => {
    const raw = await stack.app.inject({ method: 'GET', url: `/scs?${qs}`, headers: stack.auth('reader') });
    expect(raw.statusCode).toBe(200);
    expect(raw.headers['content-type']).toMatch(/^application\/x-votable\+xml/);
    const checked = await pyvo(token, 'validate', `${base}/scs?${qs}`);
    expect(checked.ok).toBe(true);
    expect(checked.infos.Error).toMatch(reason);
  });

  it('pyvo reports the SCS error document as a query error', async () => {
    const out = await pyvo(token, 'scs', `${base}/scs`, '10', '0', '-1');
    expect(out).toMatchObject({ ok: false, kind: 'DALQueryError', error: expect.stringMatching(/SR=-1 is outside/) });
  });

  it('answers under the seed\'s DaCHS cone path too', async () => {
    const out = await pyvo(token, 'scs', `${base}/rucio/rucio/cone/scs.xml`, '15', '0', '1');
    expect(out.rows.map((r: { id: string }) => r.id.slice(r.id.indexOf('?') + 1).split(':').slice(1).join(':')).sort()).toEqual(bruteCone(dids, 15, 0, 1));
  });

  it('admits token-less IVOA clients through the opened ivoa-seed group, but refuses a bad token', async () => {
    expect((await stack.app.inject({ method: 'GET', url: '/scs?RA=1&DEC=1&SR=1' })).statusCode).toBe(200);
    expect((await stack.app.inject({ method: 'GET', url: '/scs?RA=1&DEC=1&SR=1', headers: { authorization: 'Bearer nope' } })).statusCode).toBe(401);
  });
});

describe('DataLink through the gateway', () => {
  const multi = dids.find((d) => d.replicas.length === 3)!;
  const byDistance = (lat: number, lon: number) => [...multi.replicas]
    .sort((a, b) => greatCircleKm(lon, lat, SITES[a.site].lon, SITES[a.site].lat) - greatCircleKm(lon, lat, SITES[b.site].lon, SITES[b.site].lat))
    .map((r) => r.url);

  it('lists every replica, nearest to the configured default site first (parsed by pyvo)', async () => {
    const out = await pyvo(token, 'datalink', `${base}/datalink`, pubDid(multi));
    expect(out).toEqual({ ok: true, links: expect.anything() });
    expect(out.links.map((l: { access_url: string }) => l.access_url)).toEqual(byDistance(SITES.UKSRC.lat, SITES.UKSRC.lon));
    expect(out.links.every((l: { semantics: string }) => l.semantics === '#this')).toBe(true);
  });

  it('orders by the caller site given as a query parameter', async () => {
    for (const site of ['AUSRC', 'CNSRC'] as const) {
      const out = await pyvo(token, 'datalink', `${base}/datalink?site=${site}`, pubDid(multi));
      expect(out.links.map((l: { access_url: string }) => l.access_url)).toEqual(byDistance(SITES[site].lat, SITES[site].lon));
    }
    const byCoords = await pyvo(token, 'datalink', `${base}/datalink?lat=-30&lon=120`, pubDid(multi));
    expect(byCoords.links[0].access_url).toBe(byDistance(-30, 120)[0]);
  });

  it('validates as a VOTable and reports an unknown DID in error_message', async () => {
    const ok = await pyvo(token, 'validate', `${base}/datalink?ID=${encodeURIComponent(pubDid(multi))}`);
    expect(ok).toMatchObject({ ok: true, status: 200, rows: 3 });
    const unknown = await pyvo(token, 'datalink', `${base}/datalink`, 'ivo://dbb.local/rucio?testing:nope.fits');
    // pyvo surfaces the error row either as a link with error_message or as a DALQueryError carrying it.
    expect(JSON.stringify(unknown)).toMatch(/NotFoundFault: ivo:\/\/dbb.local\/rucio\?testing:nope.fits/);
    const links = await stack.app.inject({ method: 'GET', url: `/datalink?ID=${encodeURIComponent(pubDid(multi))}` });
    expect(links.headers['content-type']).toMatch(/^application\/x-votable\+xml;content=datalink/);
    const missing = await stack.app.inject({ method: 'GET', url: '/datalink', headers: stack.auth('reader') });
    expect(missing.statusCode).toBe(400);
    expect(missing.body).toContain('UsageFault');
  });

  it('answers under the seed\'s rucio-datalink path /links too', async () => {
    const out = await pyvo(token, 'datalink', `${base}/links`, pubDid(multi));
    expect(out.links.map((l: { access_url: string }) => l.access_url)).toEqual(byDistance(SITES.UKSRC.lat, SITES.UKSRC.lon));
  });

  it('drops a removed replica', async () => {
    const d = dids.find((x) => x.replicas.length === 2 && x !== multi)!;
    await stack.appender.append('ReplicaRemoved', `${d.scope}:${d.name}`, { scope: d.scope, name: d.name, rse: d.replicas[0].rse });
    await eventually(async () => {
      const out = await pyvo(token, 'datalink', `${base}/datalink`, pubDid(d));
      expect(out.links.map((l: { access_url: string }) => l.access_url)).toEqual([d.replicas[1].url]);
    }, { timeoutMs: 60_000 });
  });
});

describe('updates, deletes and replay', () => {
  it('a metadata update replaces the row and moves the DID in cone searches', async () => {
    const d = dids[10];
    await stack.appender.append('DidMetadataUpdated', `${d.scope}:${d.name}`, { scope: d.scope, name: d.name, metadata: JSON.stringify({ s_ra: 100, s_dec: 40, target_name: 'moved' }) });
    await eventually(async () => {
      const out = await pyvo(token, 'scs', `${base}/scs`, '100', '40', '0.01');
      expect(out.rows.map((r: { id: string }) => r.id)).toEqual([pubDid(d)]);
    }, { timeoutMs: 60_000 });
    const { rows } = await stack.db.query('SELECT target_name, calib_level, obs_collection FROM projection_ivoa.obscore WHERE rucio_did_name = $1', [d.name]);
    expect(rows[0]).toEqual({ target_name: 'moved', calib_level: null, obs_collection: 'testing' });
  });

  it('a deleted DID leaves the ObsCore table', async () => {
    const d = dids[11];
    const key = `${d.scope}:${d.name}`;
    const before = await getCounts(stack.db);
    await stack.appender.append('DidDeleted', key, { scope: d.scope, name: d.name });
    await eventually(async () => expect(await getCounts(stack.db)).toMatchObject({ rows: N - 1, deletedDids: 1, replicas: before.replicas - d.replicas.length }), { timeoutMs: 60_000 });
    const out = await pyvo(token, 'datalink', `${base}/datalink`, pubDid(d));
    expect(JSON.stringify(out)).toMatch(/NotFoundFault/);
  });

  it('replaying the projection from offset 0 gives the same tables as live', async () => {
    const snapshot = async () => ({
      obscore: (await stack.db.query('SELECT *, s_region::text AS s_region FROM projection_ivoa.obscore ORDER BY rucio_did_scope, rucio_did_name')).rows,
      replicas: (await stack.db.query('SELECT * FROM projection_ivoa.replicas ORDER BY scope, name, rse')).rows,
      tombstones: (await stack.db.query('SELECT * FROM projection_ivoa.did_tombstones ORDER BY scope, name')).rows,
    });
    const live = await snapshot();
    const res = await replayProjection(stack.platform, createIvoaProjection(stack.platform.domainDeps));
    expect(res.events).toBeGreaterThan(N);
    expect(await snapshot()).toEqual(live);
  });
});

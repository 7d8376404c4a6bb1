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
import { bruteCone, dumpLine, makeDids, pyvo, SITES, votlint, writeDump, type FixtureDid } from './ivoa/support.ts';
import { greatCircleDeg } from '../projections/ivoa/geo.ts';

const N = 300;
let stack: TestStack;
let base: string;
let token: string;
let dir: string;
const dids: FixtureDid[] = makeDids(N);

const pubDid = (d: { scope: string; name: string }) => `ivo://dbb.local/rucio?${d.scope}:${d.name}`;

// SODA: IMG's file is in the storage root, CUBE's (with a spectral axis) is reached through a replica path.
const IMG = dids[20];
const CUBE = dids[21];
const cubeUrl = CUBE.replicas[CUBE.replicas.length - 1].url;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ivoa-e2e-'));
  const cubePrefix = cubeUrl.slice(0, cubeUrl.indexOf('/testing/') + 1);
  await pyvo('', 'make-fits', join(dir, 'storage', IMG.scope, IMG.name), String(IMG.ra), String(IMG.dec), 'image');
  await pyvo('', 'make-fits', join(dir, 'replicas', cubeUrl.slice(cubePrefix.length)), String(CUBE.ra), String(CUBE.dec), 'cube');
  stack = await startTestStack({ consumers: (deps) => [createIvoaProjection(deps)], env: {
    DBB_ANONYMOUS_ROUTES: 'ivoa-seed', IVOA_SITE_LAT: String(SITES.UKSRC.lat), IVOA_SITE_LON: String(SITES.UKSRC.lon),
    IVOA_STORAGE_ROOT: join(dir, 'storage'), IVOA_REPLICA_PATHS: `${cubePrefix}=${join(dir, 'replicas')}`,
  } });
  base = await stack.listen();
  token = stack.tokens.reader;
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

describe('validators: votlint on SCS and DataLink outputs and error documents', () => {
  // one case per document: each is a STILTS JVM start, slow on a busy machine
  it.each([
    '/scs?RA=15&DEC=0&SR=1', '/scs?RA=15&DEC=0&SR=1&VERB=3', '/scs?RA=15&DEC=0&SR=0.000001',
    '/scs?RA=abc&DEC=0&SR=1', '/scs?RA=15&DEC=0&SR=99',
    `/datalink?ID=${encodeURIComponent(pubDid(dids[30]))}`,
    `/datalink?ID=${encodeURIComponent(pubDid(IMG))}&ID=${encodeURIComponent(pubDid(CUBE))}`,
    `/datalink?ID=${encodeURIComponent('ivo://dbb.local/rucio?testing:nope')}`, '/datalink',
  ])('finds no errors or warnings in %s', async (path) => {
    const res = await fetch(`${base}${path}`);
    expect(await votlint(await res.text())).toEqual([]);
  });
});

describe('SODA cutouts of DIDs held locally', () => {
  const sodaUrl = (id: string, params: Record<string, string>) => `${base}/soda?${new URLSearchParams({ ID: id, ...params })}`;

  it('DataLink lists a #cutout row with a SODA service descriptor only for DIDs held here', async () => {
    const out = await pyvo('', 'datalink', `${base}/datalink`, pubDid(IMG));
    expect(out.links.map((l: { semantics: string }) => l.semantics)).toContain('#cutout');
    const body = await (await fetch(`${base}/datalink?ID=${encodeURIComponent(pubDid(IMG))}`)).text();
    expect(body).toMatch(/<RESOURCE type="meta" utype="adhoc:service" ID="soda">/);
    expect(body).toContain('value="ivo://ivoa.net/std/SODA#sync-1.0"');
    expect(body).toContain(`value="${base}/soda"`);
    const other = await pyvo('', 'datalink', `${base}/datalink`, pubDid(dids[30]));
    expect(other.links.map((l: { semantics: string }) => l.semantics)).not.toContain('#cutout');
  });

  it('CIRCLE returns a FITS cutout whose WCS covers the circle (astropy)', async () => {
    const [ra, dec, r] = [IMG.ra + 0.1, IMG.dec - 0.05, 0.1];
    const out = await pyvo('', 'fits', sodaUrl(pubDid(IMG), { CIRCLE: `${ra} ${dec} ${r}` }));
    expect(out).toMatchObject({ ok: true, type: 'application/fits' });
    // 0.2 deg across at 0.005 deg/pixel: ~41 pixels a side
    expect(out.shape[0]).toBeGreaterThanOrEqual(40);
    expect(out.shape[0]).toBeLessThanOrEqual(43);
    expect(greatCircleDeg(out.centre[0], out.centre[1], ra, dec)).toBeLessThan(0.005);
    for (const [cra, cdec] of out.corners) {
      const d = greatCircleDeg(cra, cdec, ra, dec);
      expect(d).toBeGreaterThan(r * Math.SQRT2 - 0.01);
      expect(d).toBeLessThan(r * Math.SQRT2 + 0.01);
    }
  });

  it('POS RANGE and POS CIRCLE give the same box as the equivalent request', async () => {
    const out = await pyvo('', 'fits', sodaUrl(pubDid(IMG), { POS: `RANGE ${IMG.ra - 0.1} ${IMG.ra + 0.1} ${IMG.dec - 0.2} ${IMG.dec + 0.2}` }));
    expect(out).toMatchObject({ ok: true });
    expect(out.shape[1]).toBeLessThan(out.shape[0]); // 0.2 deg of RA, 0.4 deg of Dec
    expect(greatCircleDeg(out.centre[0], out.centre[1], IMG.ra, IMG.dec)).toBeLessThan(0.005);
    const circ = await pyvo('', 'fits', sodaUrl(pubDid(IMG), { POS: `CIRCLE ${IMG.ra} ${IMG.dec} 0.05` }));
    expect(greatCircleDeg(circ.centre[0], circ.centre[1], IMG.ra, IMG.dec)).toBeLessThan(0.005);
  });

  it('BAND cuts the spectral axis of a cube reached through a replica path', async () => {
    const out = await pyvo('', 'fits', sodaUrl(pubDid(CUBE), { CIRCLE: `${CUBE.ra} ${CUBE.dec} 0.05`, BAND: '0.2128 0.2142' }));
    expect(out).toMatchObject({ ok: true, spectral_unit: 'm' });
    expect(out.spectral[0]).toBeCloseTo(0.213, 6);
    expect(out.spectral[1]).toBeCloseTo(0.214, 6);
    expect(out.shape[0]).toBe(2);
    expect(greatCircleDeg(out.centre[0], out.centre[1], CUBE.ra, CUBE.dec)).toBeLessThan(0.005);
  });

  it('answers SODA errors: no overlap, bad parameters, BAND without a spectral axis, unknown DID', async () => {
    const cases: [string, number, RegExp][] = [
      [sodaUrl(pubDid(IMG), { CIRCLE: `${(IMG.ra + 180) % 360} ${-IMG.dec} 0.1` }), 400, /^NoOverlap: /],
      [sodaUrl(pubDid(IMG), { CIRCLE: `${IMG.ra + 3} ${IMG.dec} 0.1` }), 400, /^NoOverlap: /],
      [sodaUrl(pubDid(IMG), { CIRCLE: '1 2' }), 400, /^UsageError: /],
      [sodaUrl(pubDid(IMG), { BAND: '0.2 0.3' }), 400, /^UsageError: .*spectral axis/],
      [sodaUrl(pubDid(dids[30]), { CIRCLE: `${dids[30].ra} ${dids[30].dec} 0.1` }), 404, /^NotFoundFault: .*no copy/],
      [sodaUrl('ivo://dbb.local/rucio?testing:nope', { CIRCLE: '1 2 3' }), 404, /^NotFoundFault: /],
      [`${base}/soda?CIRCLE=1+2+3`, 400, /^UsageError: parameter ID/],
    ];
    for (const [url, status, body] of cases) {
      const res = await fetch(url);
      expect(res.status, url).toBe(status);
      expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
      expect(await res.text(), url).toMatch(body);
    }
  });

  it('pyvo: the #cutout row of a DataLink document runs the SODA service (processed(circle=...))', async () => {
    const out = await pyvo('', 'datalink-soda', `${base}/datalink`, pubDid(IMG), String(IMG.ra), String(IMG.dec), '0.05');
    expect(out).toMatchObject({ ok: true, cutout_id: pubDid(IMG) });
    expect(greatCircleDeg(out.centre[0], out.centre[1], IMG.ra, IMG.dec)).toBeLessThan(0.005);
  });
});

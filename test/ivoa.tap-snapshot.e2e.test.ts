// "ObsCore as it was on date X" over TAP: an ivoa snapshot (dbb replay ivoa --until --into) is published
// by DaCHS as rucio.obscore_asof_<name> (infra/tap/dachs.ts publishSnapshotsToTap), queried here through
// the gateway's /tap proxy. It keeps a DID deleted after the cut, which rucio.obscore and ivoa.obscore no
// longer have; it is described in TAP_SCHEMA and gone again after the snapshot is dropped.
// Like test/ivoa.tap.e2e.test.ts, the file holds the TAP lock while DaCHS points at its database.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestStack, eventually, type TestStack } from './support/stack.ts';
import { createIvoaProjection } from '../projections/ivoa/index.ts';
import { parseUntil, replaySnapshot } from '../platform/replay.ts';
import { dropSnapshot } from '../platform/snapshots.ts';
import { DACHS_TAP_URL, publishSnapshotsToTap } from '../infra/tap/dachs.ts';
import { holdTap, pyvo } from './ivoa/support.ts';

let stack: TestStack;
let base: string;
let tap: Awaited<ReturnType<typeof holdTap>> | undefined;

beforeAll(async () => {
  tap = await holdTap();
  stack = await startTestStack({ consumers: (deps) => [createIvoaProjection(deps)], env: { DBB_ANONYMOUS_ROUTES: 'ivoa-seed', IVOA_TAP_URL: DACHS_TAP_URL } });
  base = await stack.listen();
  await tap.serve(stack.env.DATABASE_URL!);
}, 600_000);

afterAll(async () => {
  await stack?.stop();
  await tap?.release();
});

/** ADQL through the gateway's TAP proxy (DaCHS /tap/sync) as CSV: the rows, or the error document. */
async function adql(query: string): Promise<{ ok: boolean; rows: string[]; body: string }> {
  const res = await fetch(`${base}/tap/sync`, { method: 'POST', body: new URLSearchParams({ REQUEST: 'doQuery', LANG: 'ADQL', QUERY: query, RESPONSEFORMAT: 'text/csv;header=present' }) });
  const body = await res.text();
  const ok = res.ok && !/QUERY_STATUS" value="ERROR"/.test(body);
  return { ok, rows: ok ? body.trim().split(/\r?\n/).slice(1).map((l) => l.trim().replace(/^"(.*)"$/, '$1')).sort() : [], body };
}
const listed = async () => (await adql("SELECT table_name FROM TAP_SCHEMA.tables WHERE table_name LIKE 'rucio.obscore%'")).rows;

describe('TAP per snapshot', () => {
  const appendEvent = (name: string, key: string, body: object) =>
    stack.app.inject({ method: 'POST', url: `/api/v1/events/${name}`, headers: stack.auth('operator'), payload: { key, body } });
  const rows = async () => (await stack.app.inject({ method: 'GET', url: '/api/v1/ivoa/stats', headers: stack.auth('reader') })).json().rows;

  it('rucio.obscore_asof_<name> is ObsCore as it was at the cut; dropping the snapshot removes it', async () => {
    for (const [name, ra] of [['kept.fits', 10], ['gone.fits', 11]] as const) {
      const metadata = JSON.stringify({ s_ra: ra, s_dec: 20, dataproduct_type: 'image', calib_level: 2 });
      expect((await appendEvent('DidRegistered', `tapsnap:${name}`, { scope: 'tapsnap', name, didType: 'FILE', metadata })).statusCode).toBe(202);
    }
    await eventually(async () => expect(await rows()).toBe(2));
    const cut = new Date();
    await new Promise((r) => setTimeout(r, 20)); // the delete must carry a later millisecond than the cut
    expect((await appendEvent('DidDeleted', 'tapsnap:gone.fits', { scope: 'tapsnap', name: 'gone.fits' })).statusCode).toBe(202);
    await eventually(async () => expect(await rows()).toBe(1));

    const built = await replaySnapshot(stack.platform, createIvoaProjection(stack.platform.domainDeps), { until: parseUntil(cut.toISOString()), into: 'before_delete' });
    const inSql = await stack.db.query('SELECT rucio_did_name FROM projection_ivoa_asof_before_delete.obscore ORDER BY 1');
    expect(inSql.rows.map((r) => r.rucio_did_name), JSON.stringify(built)).toEqual(['gone.fits', 'kept.fits']);
    expect(await publishSnapshotsToTap(stack.env.DATABASE_URL!, { locked: true })).toEqual({ changed: true });
    expect(await publishSnapshotsToTap(stack.env.DATABASE_URL!, { locked: true })).toEqual({ changed: false });

    // the server reloads its RD cache on SIGHUP, asynchronously
    await eventually(async () => {
      const snap = await adql('SELECT rucio_did_name FROM rucio.obscore_asof_before_delete');
      expect(snap.ok, snap.body).toBe(true);
      expect(snap.rows).toEqual(['gone.fits', 'kept.fits']);
    }, { timeoutMs: 60_000, intervalMs: 1000 });
    expect((await adql('SELECT rucio_did_name FROM rucio.obscore')).rows).toEqual(['kept.fits']);
    expect((await adql("SELECT obs_id FROM ivoa.obscore WHERE obs_id IN ('kept.fits', 'gone.fits')")).rows).toEqual(['kept.fits']);
    const viaPyvo = await pyvo('', 'tap-sync', `${base}/tap`, "SELECT rucio_did_name, s_ra FROM rucio.obscore_asof_before_delete WHERE rucio_did_name = 'gone.fits'");
    expect(viaPyvo).toMatchObject({ ok: true, rows: [{ rucio_did_name: 'gone.fits', s_ra: 11 }] });
    expect(await listed()).toEqual(expect.arrayContaining(['rucio.obscore', 'rucio.obscore_asof_before_delete']));
    const cols = await adql("SELECT column_name FROM TAP_SCHEMA.columns WHERE table_name = 'rucio.obscore_asof_before_delete'");
    expect(cols.rows).toEqual(expect.arrayContaining(['rucio_did_name', 's_ra', 's_dec', 'obs_id']));

    expect(await dropSnapshot(stack.db, 'before_delete')).toEqual(['projection_ivoa_asof_before_delete']);
    expect(await publishSnapshotsToTap(stack.env.DATABASE_URL!, { locked: true })).toEqual({ changed: true });
    expect(await listed()).not.toContain('rucio.obscore_asof_before_delete');
    expect(await listed()).toContain('rucio.obscore');
    await eventually(async () => expect((await adql('SELECT rucio_did_name FROM rucio.obscore_asof_before_delete')).ok).toBe(false), { timeoutMs: 60_000, intervalMs: 1000 });
    expect((await adql('SELECT rucio_did_name FROM rucio.obscore')).rows).toEqual(['kept.fits']);
  }, 600_000);
});

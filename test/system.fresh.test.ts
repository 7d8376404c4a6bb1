// A new user's first minutes, driven through the real `dbb up` (the command behind `npm start`) with
// a fresh state directory and a fresh database: the system gets ready, the first local_copy to a user
// nobody created answers 2xx, TAP answers. And a missing optional dependency (pgSphere, by a wrong
// extension name) leaves ivoa down and named, while every other domain keeps serving.
import { afterAll, describe, expect, it } from 'vitest';
import { writeFileSync, existsSync, readFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { inject } from 'vitest';
import { createKafka } from '../platform/kafka.ts';
import { createLogger } from '../platform/log.ts';
import { lockTap, pointTapAt } from '../infra/tap/dachs.ts';
import { dbbUp as start, stopDbbUp as stop, type Running } from './support/dbb-up.ts';

const started: Running[] = [];
/** `dbb up` as `npm start` runs it, with nothing of its own yet: new state dir, new database. */
const dbbUp = (extra: Record<string, string> = {}) => start(extra, { started });

afterAll(async () => { for (const r of started) await stop(r); });

async function localCopy(r: Running, username: string) {
  const storage = join(r.stateDir, 'staging', 'storage');
  mkdirSync(join(storage, 'obs'), { recursive: true });
  writeFileSync(join(storage, 'obs', 'first.fits'), 'SIMPLE  =                    T\n');
  return fetch(`${r.url}/stage_data?method=local_copy&username=${username}`, {
    method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${r.token}` },
    body: JSON.stringify({ data: { local_path_on_storage: 'obs/first.fits', relative_path: 'first.fits' } }),
  });
}

describe('a fresh system, as npm start brings it up', () => {
  it('is ready, stages to a new user, answers TAP, and Ctrl-C leaves the shared broker running', async () => {
    const r = await dbbUp();
    const ready = await fetch(`${r.url}/readyz`);
    const body = await ready.json() as { status: string; domains: Record<string, string> };
    expect(ready.status, JSON.stringify(body)).toBe(200);
    expect(body.status).toBe('ready');

    const staged = await localCopy(r, 'newcomer');
    expect(staged.status, await staged.clone().text()).toBeLessThan(300);
    const copied = join(r.stateDir, 'staging', 'users', 'newcomer', 'first.fits');
    expect(existsSync(copied)).toBe(true);
    expect(readFileSync(copied, 'utf8')).toContain('SIMPLE');

    const lock = await lockTap(120_000);
    try {
      await pointTapAt(r.databaseUrl); // a TAP test may have re-pointed the shared DaCHS meanwhile
      const tap = await fetch(`${r.url}/tap/sync`, { method: 'POST', body: new URLSearchParams({ REQUEST: 'doQuery', LANG: 'ADQL', QUERY: 'SELECT TOP 5 obs_publisher_did FROM rucio.obscore' }) });
      const votable = await tap.text();
      expect(tap.status, votable).toBe(200);
      expect(votable).toContain('<VOTABLE');
      expect(votable).toContain('QUERY_STATUS" value="OK"');
    } finally {
      await lock.release();
    }

    // the broker was running before (the suite's): this command did not start it, so it does not stop it
    expect(r.output()).toMatch(/kafka and registry \(started earlier\) keep running/);
    await stop(r);
    expect(r.output()).not.toMatch(/kafka: stopping/);
    const kafka = createKafka({ kafkaBrokers: inject('stack').brokers }, createLogger({ level: 'silent' })).admin();
    await kafka.connect();
    await kafka.listTopics();
    await kafka.disconnect();
  });

  it('without pgSphere, ivoa is down and says why, and staging still works', async () => {
    const r = await dbbUp({ IVOA_PGSPHERE_EXTENSION: 'pg_sphere_not_installed' });
    expect(r.output()).toMatch(/UNAVAILABLE ivoa: pgSphere is missing/);
    const ready = await fetch(`${r.url}/readyz`);
    const body = await ready.json() as { status: string; domains: Record<string, string> };
    expect(ready.status).toBe(200);
    expect(body.status).toBe('degraded');
    expect(body.domains.ivoa).toMatch(/pgSphere is missing.*pg_sphere_not_installed.*apt-get install postgresql-\d+-pgsphere/);
    expect(body.domains.staging).toBe('up');

    for (const path of ['/api/v1/ivoa/stats', '/scs?RA=10&DEC=10&SR=1', '/tap/sync?REQUEST=doQuery&LANG=ADQL&QUERY=SELECT+1']) {
      const res = await fetch(`${r.url}${path}`, { headers: { authorization: `Bearer ${r.token}` } });
      expect(res.status, path).toBe(503);
      expect(res.headers.get('content-type')).toContain('application/problem+json');
      expect((await res.json() as { code: string; detail: string })).toMatchObject({ code: 'DBB_DOMAIN_UNAVAILABLE', detail: expect.stringContaining('pgSphere') });
    }
    const staged = await localCopy(r, 'still-served');
    expect(staged.status, await staged.clone().text()).toBeLessThan(300);
  });
});

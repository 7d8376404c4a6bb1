// Point-in-time read models (issue 21.4) end to end: a snapshot of the staging projection built up to a
// time (Kafka timestamps) or up to offsets holds what the log held then, the read API serves it with
// ?as_of=<name>, writes to it are refused, and unknown or malformed names answer a problem.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { eventually, type TestStack } from './support/stack.ts';
import { createStagingProcessor } from '../processors/staging/index.ts';
import { createStagingProjection } from '../projections/staging/index.ts';
import { createIvoaProjection } from '../projections/ivoa/index.ts';
import { createIngestProjection } from '../projections/ingest/index.ts';
import { createTapeProjection } from '../projections/tape/index.ts';
import { makeSite, startStagingStack, stage, type Site } from './staging/fixture.ts';
import { parseUntil, replaySnapshot } from '../platform/replay.ts';
import { dropSnapshot, listSnapshots } from '../platform/snapshots.ts';
import { consumerLag } from '../platform/inspect.ts';

const run = promisify(execFile);
const CLI = join(import.meta.dirname, '..', 'cli', 'dbb.ts');

let site: Site;
let stack: TestStack;

beforeAll(async () => {
  site = makeSite();
  stack = await startStagingStack({ consumers: (deps) => [createStagingProcessor(deps), createStagingProjection(deps)], env: site.env });
});

afterAll(async () => {
  await stack?.stop();
  site?.cleanup();
});

const get = (url: string) => stack.app.inject({ method: 'GET', url, headers: stack.auth('reader') });
async function stagedOk(rel: string): Promise<string> {
  const res = await stage(stack, 'local_copy', 'alice', { local_path_on_storage: join(site.root, 'obs', 'f.dat'), relative_path: rel });
  expect(res.statusCode).toBe(200);
  const id = res.json().request_id as string;
  await eventually(async () => expect((await get(`/api/v1/staging/requests/${id}`)).json().status).toBe('SUCCESS'));
  return id;
}
const idsOf = async (url: string) => { const r = await get(url); expect(r.statusCode).toBe(200); return r.json().requests.map((q: any) => q.id).sort(); };

describe('point-in-time snapshots', () => {
  let a: string;
  let b: string;
  let stopOffsets: Record<string, string>;

  it('a snapshot up to a time holds the requests made before it, served with ?as_of', async () => {
    a = await stagedOk('asof/a.dat');
    const cut = new Date();
    await new Promise((r) => setTimeout(r, 20)); // B's records must carry a later millisecond than the cut
    b = await stagedOk('asof/b.dat');

    const spec = createStagingProjection(stack.platform.domainDeps);
    const res = await replaySnapshot(stack.platform, spec, { until: parseUntil(cut.toISOString()), into: 'before_b' });
    expect(res.schema).toBe('projection_staging_asof_before_b');
    expect(res.events).toBe(2); // A's StagingRequested and FileStaged
    stopOffsets = res.stopOffsets;

    expect(await idsOf('/api/v1/staging/requests?as_of=before_b')).toEqual([a]);
    expect(await idsOf('/api/v1/staging/requests')).toEqual([a, b].sort());
    expect((await get(`/api/v1/staging/requests/${a}?as_of=before_b`)).json()).toMatchObject({ id: a, status: 'SUCCESS' });
    const missing = await get(`/api/v1/staging/requests/${b}?as_of=before_b`);
    expect(missing.statusCode).toBe(404);
    expect(missing.json().code).toBe('DBB_STAGING_NOT_FOUND');
  });

  it('a snapshot up to explicit offsets equals the one up to the matching time', async () => {
    const until = 'offsets:' + Object.entries(stopOffsets).map(([tp, o]) => `${tp}=${o}`).join(',');
    await replaySnapshot(stack.platform, createStagingProjection(stack.platform.domainDeps), { until: parseUntil(until), into: 'by_offsets' });
    expect(await idsOf('/api/v1/staging/requests?as_of=by_offsets')).toEqual([a]);
    const empty = 'offsets:' + Object.keys(stopOffsets).map((tp) => `${tp}=0`).join(',');
    await replaySnapshot(stack.platform, createStagingProjection(stack.platform.domainDeps), { until: parseUntil(empty), into: 'nothing' });
    expect(await idsOf('/api/v1/staging/requests?as_of=nothing')).toEqual([]);
  });

  it('refuses writes into a snapshot, even from the owner', async () => {
    await expect(stack.db.query(`UPDATE projection_staging_asof_before_b.staging_requests SET status = 'FAILURE'`)).rejects.toThrow(/read-only/);
    await expect(stack.db.query(`DELETE FROM projection_staging_asof_before_b.staging_log`)).rejects.toThrow(/read-only/);
    expect((await get(`/api/v1/staging/requests/${a}?as_of=before_b`)).json().status).toBe('SUCCESS');
  });

  it('answers 404 for an unknown snapshot, 400 for a malformed name, and refuses a name twice', async () => {
    const unknown = await get('/api/v1/staging/requests?as_of=no_such');
    expect(unknown.statusCode).toBe(404);
    expect(unknown.headers['content-type']).toContain('application/problem+json');
    expect(unknown.json().code).toBe('DBB_SNAPSHOT_NOT_FOUND');
    // a snapshot of another projection is not one of staging's
    expect((await get('/api/v1/ivoa/stats?as_of=before_b')).json().code).toBe('DBB_SNAPSHOT_NOT_FOUND');
    const bad = await get(`/api/v1/staging/requests?as_of=${encodeURIComponent('x"; DROP SCHEMA public')}`);
    expect(bad.statusCode).toBe(400);
    expect(bad.json().code).toBe('DBB_VALIDATION');
    await expect(replaySnapshot(stack.platform, createStagingProjection(stack.platform.domainDeps), { until: parseUntil(new Date().toISOString()), into: 'before_b' }))
      .rejects.toThrow(/exists/);
  });

  it('dbb replay --until --into builds a snapshot from the command line; --list shows it', async () => {
    const dbb = (...args: string[]) => run(process.execPath, ['--import', 'tsx', CLI, 'replay', ...args], { env: { ...stack.env, DBB_FROM_SOURCE: '1' }, timeout: 170_000 });
    const built = await dbb('staging', '--until', new Date().toISOString(), '--into', 'from_cli');
    expect(built.stdout).toMatch(/snapshot from_cli: 4 events .* projection_staging_asof_from_cli/);
    expect(await idsOf('/api/v1/staging/requests?as_of=from_cli')).toEqual([a, b].sort());
    expect((await dbb('--list')).stdout).toMatch(/from_cli\s+projection\.staging\s+until \S+\s+4 events/);
    expect((await dbb('--drop', 'from_cli')).stdout).toContain('dropped projection_staging_asof_from_cli');
  });

  it('lists and drops snapshots; a dropped one is gone from the read API', async () => {
    expect((await listSnapshots(stack.db)).map((s) => [s.name, s.projection, s.events])).toEqual([
      ['before_b', 'projection.staging', 2], ['by_offsets', 'projection.staging', 2], ['nothing', 'projection.staging', 0],
    ]);
    // a snapshot stops behind the log on purpose: it is not the live projection's lag
    const lag = (await consumerLag({ config: stack.config, db: stack.db })).find((l) => l.group.endsWith('dbb.projection.staging'));
    expect(lag?.lag).toBe(0);
    expect(await dropSnapshot(stack.db, 'before_b')).toEqual(['projection_staging_asof_before_b']);
    expect((await get('/api/v1/staging/requests?as_of=before_b')).json().code).toBe('DBB_SNAPSHOT_NOT_FOUND');
    const { rowCount } = await stack.db.query(`SELECT 1 FROM pg_namespace WHERE nspname = 'projection_staging_asof_before_b'`);
    expect(rowCount).toBe(0);
  });
});

describe('point-in-time ObsCore', () => {
  const appendEvent = (name: string, key: string, body: object) =>
    stack.app.inject({ method: 'POST', url: `/api/v1/events/${name}`, headers: stack.auth('operator'), payload: { key, body } });
  const stats = async (q = '') => { const r = await get(`/api/v1/ivoa/stats${q}`); expect(r.statusCode).toBe(200); return r.json(); };

  it('a snapshot taken before a DID was deleted still counts it, while the live read model does not', async () => {
    await stack.startConsumers((deps) => [createIvoaProjection(deps)]);
    const metadata = JSON.stringify({ s_ra: 10, s_dec: 20, dataproduct_type: 'image', calib_level: 2 });
    expect((await appendEvent('DidRegistered', 'asof:x.fits', { scope: 'asof', name: 'x.fits', didType: 'FILE', metadata })).statusCode).toBe(202);
    await eventually(async () => expect((await stats()).rows).toBe(1));
    const cut = new Date();
    await new Promise((r) => setTimeout(r, 20));
    expect((await appendEvent('DidDeleted', 'asof:x.fits', { scope: 'asof', name: 'x.fits' })).statusCode).toBe(202);
    await eventually(async () => expect((await stats()).rows).toBe(0));

    await replaySnapshot(stack.platform, createIvoaProjection(stack.platform.domainDeps), { until: parseUntil(cut.toISOString()), into: 'before_delete' });
    expect(await stats('?as_of=before_delete')).toMatchObject({ rows: 1, dids: 1, deletedDids: 0 });
    expect(await stats()).toMatchObject({ rows: 0, deletedDids: 1 });
    expect((await get('/api/v1/staging/requests?as_of=before_delete')).json().code).toBe('DBB_SNAPSHOT_NOT_FOUND');
    const cone = async (q: string) => { const r = await get(`/scs?RA=10&DEC=20&SR=0.1${q}`); expect(r.statusCode).toBe(200); return r.body; };
    expect((await cone('&as_of=before_delete')).match(/<TR>/g)).toHaveLength(1);
    expect(await cone('&as_of=before_delete')).toContain('x.fits');
    expect((await cone('')).match(/<TR>/g)).toBeNull();
    expect(await cone('&as_of=no_such')).toMatch(/QUERY_STATUS.*ERROR[\s\S]*no snapshot/);
  });
});

describe('point-in-time ingest files and tape jobs', () => {
  const appendEvent = async (name: string, key: string, body: object) => {
    const r = await stack.app.inject({ method: 'POST', url: `/api/v1/events/${name}`, headers: stack.auth('operator'), payload: { key, body } });
    expect(r.statusCode, r.body).toBe(202);
  };
  const json = async (url: string) => { const r = await get(url); expect(r.statusCode, r.body).toBe(200); return r.json(); };
  const discovered = (fileId: string) => ({ fileId, relPath: `asof/${fileId}.fits`, sourcePath: `/buffer/asof/${fileId}.fits`, size: 10, checksum: 'ab'.repeat(32), mtime: Date.now() });
  const requested = (jobId: number) => ({ jobId, files: [`/archive/asof/${jobId}.fits`], obs: null, notifyUrl: 'https://example.org/cb', progress: null });

  it('serves the files and jobs a snapshot held with ?as_of, and 404 for a snapshot of another projection', async () => {
    await stack.startConsumers((deps) => [createIngestProjection(deps), createTapeProjection(deps)]);
    const [f1, f2] = ['00000000-0000-4000-8000-00000000a501', '00000000-0000-4000-8000-00000000a502'];
    await appendEvent('FileDiscovered', f1, discovered(f1));
    await appendEvent('TapeJobRequested', '9001', requested(9001));
    await eventually(async () => {
      expect((await json('/api/v1/ingest/files')).files.map((f: any) => f.fileId)).toEqual([f1]);
      expect((await json('/api/v1/tape/jobs')).map((j: any) => j.jobId)).toEqual([9001]);
    });
    const cut = new Date();
    await new Promise((r) => setTimeout(r, 20));
    await appendEvent('FileDiscovered', f2, discovered(f2));
    await appendEvent('TapeJobRequested', '9002', requested(9002));
    await eventually(async () => {
      expect((await json('/api/v1/ingest/files')).files).toHaveLength(2);
      expect(await json('/api/v1/tape/jobs')).toHaveLength(2);
    });

    const until = parseUntil(cut.toISOString());
    await replaySnapshot(stack.platform, createIngestProjection(stack.platform.domainDeps), { until, into: 'ingest_before' });
    await replaySnapshot(stack.platform, createTapeProjection(stack.platform.domainDeps), { until, into: 'tape_before' });
    expect((await json('/api/v1/ingest/files?as_of=ingest_before')).files.map((f: any) => f.fileId)).toEqual([f1]);
    expect((await json(`/api/v1/ingest/files/${f1}?as_of=ingest_before`)).fileId).toBe(f1);
    expect((await get(`/api/v1/ingest/files/${f2}?as_of=ingest_before`)).json().code).toBe('DBB_INGEST_FILE_NOT_FOUND');
    expect((await json(`/api/v1/ingest/files/${f1}/events?as_of=ingest_before`)).events.map((e: any) => e.event)).toEqual(['FileDiscovered']);
    expect((await json('/api/v1/tape/jobs?as_of=tape_before')).map((j: any) => j.jobId)).toEqual([9001]);
    expect((await json('/api/v1/tape/jobs/9001?as_of=tape_before')).jobId).toBe(9001);
    expect((await get('/api/v1/tape/jobs/9002?as_of=tape_before')).statusCode).toBe(404);
    expect((await json('/api/v1/tape/jobs/9002')).jobId).toBe(9002);
    // a snapshot is per projection
    const other = await get('/api/v1/tape/jobs?as_of=ingest_before');
    expect(other.statusCode).toBe(404);
    expect(other.json().code).toBe('DBB_SNAPSHOT_NOT_FOUND');
    expect((await get('/api/v1/ingest/counts?as_of=tape_before')).json().code).toBe('DBB_SNAPSHOT_NOT_FOUND');
  });
});

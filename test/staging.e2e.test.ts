// End to end through the gateway on the real stack: every method, duplicates, status, logs, SSE,
// a real Jupyter Server for jupyter_copy, and a replay of the projection equal to the live one.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, statSync, lstatSync, readlinkSync, writeFileSync, mkdirSync, existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { eventually, type TestStack } from './support/stack.ts';
import { createStagingProcessor } from '../processors/staging/index.ts';
import { createStagingProjection } from '../projections/staging/index.ts';
import { makeSite, startStagingStack, stage, type Site } from './staging/fixture.ts';
import { startJupyter, readContents, type JupyterServer } from './staging/jupyter.ts';
import { replayProjection } from '../platform/replay.ts';
import { dumpStagingProjection } from '../projections/staging/queries.ts';

let site: Site;
let stack: TestStack;
let jupyter: JupyterServer;

beforeAll(async () => {
  site = makeSite();
  jupyter = await startJupyter(join(site.dir, 'jupyter-root'));
  stack = await startStagingStack({
    consumers: (deps) => [createStagingProcessor(deps), createStagingProjection(deps)],
    env: { ...site.env, STAGING_JUPYTER_URL_TEMPLATE: jupyter.url, STAGING_JUPYTER_TOKEN: jupyter.token, STAGING_JUPYTER_CHUNK_BYTES: String(64 * 1024) },
  });
});

afterAll(async () => {
  await stack?.stop();
  await jupyter?.stop();
  site?.cleanup();
});

async function statusOf(id: string) {
  const res = await stack.app.inject({ method: 'GET', url: `/api/v1/staging/requests/${id}`, headers: stack.auth('reader') });
  expect(res.statusCode).toBe(200);
  return res.json();
}

describe('staging end to end', () => {
  it('local_copy copies the file read-only and records SUCCESS; a repeat is skipped', async () => {
    const res = await stage(stack, 'local_copy', 'alice', { data: { local_path_on_storage: join(site.root, 'obs', 'f.dat'), relative_path: 'proj/f.dat' } });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ status: 'success', message: 'Data staged for user alice with method local_copy' });
    const dest = join(site.area('alice'), 'proj', 'f.dat');
    expect(readFileSync(dest, 'utf8')).toBe('hello staging\n');
    expect(statSync(dest).mode & 0o222).toBe(0);
    const rec = await eventually(async () => { const r = await statusOf(res.json().request_id); expect(r.status).toBe('SUCCESS'); return r; });
    expect(rec).toMatchObject({ method: 'local_copy', username: 'alice', relative_path: 'proj/f.dat', skipped: false, destination: dest, size_bytes: 14, error_reason: null });
    expect(rec.duration_ms).toBeGreaterThanOrEqual(0);

    const again = await stage(stack, 'local_copy', 'alice', { local_path_on_storage: 'obs/f.dat', relative_path: 'proj/f.dat' });
    expect(again.statusCode).toBe(200);
    expect(again.json().message).toBe(`Data already available at ${dest}`);
    await eventually(async () => expect(await statusOf(again.json().request_id)).toMatchObject({ status: 'SUCCESS', skipped: true }));
  });

  it('symlink_copy makes a hard link to the source inode', async () => {
    const res = await stage(stack, 'symlink_copy', 'bob', { local_path_on_storage: join(site.root, 'obs', 'f.dat'), relative_path: 'hard.dat' });
    expect(res.statusCode).toBe(200);
    expect(statSync(join(site.area('bob'), 'hard.dat')).ino).toBe(statSync(join(site.root, 'obs', 'f.dat')).ino);
    await eventually(async () => expect(await statusOf(res.json().request_id)).toMatchObject({ status: 'SUCCESS', method: 'symlink_copy' }));
  });

  it('local_symlink makes a symbolic link to the checked source', async () => {
    const res = await stage(stack, 'local_symlink', 'bob', { local_path_on_storage: join(site.root, 'obs', 'f.dat'), relative_path: 'links/soft.dat' });
    expect(res.statusCode).toBe(200);
    const p = join(site.area('bob'), 'links', 'soft.dat');
    expect(lstatSync(p).isSymbolicLink()).toBe(true);
    expect(readlinkSync(p)).toBe(join(site.root, 'obs', 'f.dat'));
    await eventually(async () => expect(await statusOf(res.json().request_id)).toMatchObject({ status: 'SUCCESS' }));
  });

  it('direct_download streams the file, honours Range, and can be fetched again by request id', async () => {
    const body = randomBytes(100_000);
    writeFileSync(join(site.root, 'obs', 'blob.bin'), body);
    const full = await stage(stack, 'direct_download', 'carol', { local_path_on_storage: join(site.root, 'obs', 'blob.bin'), relative_path: '' });
    expect(full.statusCode).toBe(200);
    expect(full.headers['accept-ranges']).toBe('bytes');
    expect(full.rawPayload.equals(body)).toBe(true);
    const part = await stage(stack, 'direct_download', 'carol', { local_path_on_storage: 'obs/blob.bin', relative_path: '' }, { range: 'bytes=1000-1999' });
    expect(part.statusCode).toBe(206);
    expect(part.headers['content-range']).toBe('bytes 1000-1999/100000');
    expect(part.rawPayload.equals(body.subarray(1000, 2000))).toBe(true);
    const id = full.headers['x-request-id'] as string;
    await eventually(async () => expect(await statusOf(id)).toMatchObject({ status: 'SUCCESS', destination: null, size_bytes: 100_000 }));
    const tail = await stack.app.inject({ method: 'GET', url: `/api/v1/staging/requests/${id}/download`, headers: { ...stack.auth('reader'), range: 'bytes=-10' } });
    expect(tail.statusCode).toBe(206);
    expect(tail.rawPayload.equals(body.subarray(body.length - 10))).toBe(true);
    const bad = await stack.app.inject({ method: 'GET', url: `/api/v1/staging/requests/${id}/download`, headers: { ...stack.auth('reader'), range: 'bytes=200000-' } });
    expect(bad.statusCode).toBe(416);
    expect(existsSync(site.area('carol'))).toBe(false);
  });

  it('jupyter_copy uploads in chunks through the contents API of a real Jupyter Server', async () => {
    const body = randomBytes(300_000); // > 4 chunks of 64 KiB
    writeFileSync(join(site.root, 'obs', 'big.bin'), body);
    const res = await stage(stack, 'jupyter_copy', 'dave', { local_path_on_storage: join(site.root, 'obs', 'big.bin'), relative_path: 'work/in/big.bin' });
    expect(res.statusCode).toBe(200);
    expect(res.json().message).toBe('Data staged for user dave with method jupyter_copy');
    expect((await readContents(jupyter.url, jupyter.token, 'work/in/big.bin')).equals(body)).toBe(true);
    const again = await stage(stack, 'jupyter_copy', 'dave', { local_path_on_storage: 'obs/big.bin', relative_path: 'work/in/big.bin' });
    expect(again.json().message).toBe('Data already available at work/in/big.bin');
    await eventually(async () => expect(await statusOf(again.json().request_id)).toMatchObject({ status: 'SUCCESS', skipped: true }));
  });

  it('a missing source answers 400 with the seed message and records FAILURE with the reason', async () => {
    const res = await stage(stack, 'local_copy', 'alice', { local_path_on_storage: join(site.root, 'obs', 'nope.dat'), relative_path: 'nope.dat' });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ code: 'DBB_STAGING_SOURCE_NOT_FOUND', detail: `Source path does not exist: ${join(site.root, 'obs', 'nope.dat')}` });
    await eventually(async () => expect(await statusOf(res.json().request_id)).toMatchObject({ status: 'FAILURE', error_code: 'SOURCE_NOT_FOUND' }));
  });

  it('an operator reruns a failed request once its source exists; a rerun of a success is refused', async () => {
    const res = await stage(stack, 'local_copy', 'rita', { local_path_on_storage: 'obs/late.dat', relative_path: 'late.dat' });
    expect(res.statusCode).toBe(400);
    const id = res.json().request_id;
    await eventually(async () => expect(await statusOf(id)).toMatchObject({ status: 'FAILURE', attempts: 1 }));
    writeFileSync(join(site.root, 'obs', 'late.dat'), 'late\n');
    const rerun = await stack.app.inject({ method: 'POST', url: `/api/v1/staging/requests/${id}/rerun`, headers: stack.auth('operator'), payload: { reason: 'source arrived' } });
    expect(rerun.statusCode, rerun.body).toBe(200);
    expect(rerun.json()).toMatchObject({ status: 'success', request_id: id });
    expect(readFileSync(join(site.area('rita'), 'late.dat'), 'utf8')).toBe('late\n');
    await eventually(async () => expect(await statusOf(id)).toMatchObject({ status: 'SUCCESS', attempts: 2, error_code: null }));
    const again = await stack.app.inject({ method: 'POST', url: `/api/v1/staging/requests/${id}/rerun`, headers: stack.auth('operator'), payload: {} });
    expect(again.statusCode).toBe(409);
    const asProducer = await stack.app.inject({ method: 'POST', url: `/api/v1/staging/requests/${id}/rerun`, headers: stack.auth('producer'), payload: {} });
    expect(asProducer.statusCode).toBe(403);
  });

  it('a method not allowed names the allowed ones and appends nothing', async () => {
    const res = await stage(stack, 'rucio_copy', 'alice', { local_path_on_storage: 'obs/f.dat', relative_path: 'x' });
    expect(res.statusCode).toBe(400);
    expect(res.json().detail).toContain('local_copy, symlink_copy, local_symlink, direct_download, jupyter_copy');
  });

  it('GET /logs shows the staging history and the list route filters by user', async () => {
    await eventually(async () => {
      const res = await stack.app.inject({ method: 'GET', url: '/logs', headers: stack.auth('reader') });
      expect(res.statusCode).toBe(200);
      expect(res.body).toMatch(/INFO - Data staged for user alice with method local_copy/);
      expect(res.body).toMatch(/ERROR - Staging failed for user alice with method local_copy .*SOURCE_NOT_FOUND/);
    });
    const list = await stack.app.inject({ method: 'GET', url: '/api/v1/staging/requests?username=bob', headers: stack.auth('reader') });
    expect(list.json().requests.map((r: any) => r.method).sort()).toEqual(['local_symlink', 'symlink_copy']);
  });

  it('streams staging events over SSE for the live log view', async () => {
    const base = await stack.listen();
    const ctl = new AbortController();
    const res = await fetch(`${base}/api/v1/staging/events`, { headers: stack.auth('reader'), signal: ctl.signal });
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const reader = res.body!.getReader();
    let text = '';
    const seen = (async () => {
      while (!text.includes('event: FileStaged')) {
        const { value, done } = await reader.read();
        if (done) break;
        text += Buffer.from(value).toString();
      }
    })();
    await eventually(async () => expect(text).toContain(': connected'));
    mkdirSync(join(site.root, 'sse'), { recursive: true });
    writeFileSync(join(site.root, 'sse', 'e.dat'), 'sse');
    const posted = await stage(stack, 'local_copy', 'erin', { local_path_on_storage: 'sse/e.dat', relative_path: 'e.dat' });
    expect(posted.statusCode).toBe(200);
    await seen;
    ctl.abort();
    expect(text).toContain('event: StagingRequested');
    expect(text).toContain(`"requestId":"${posted.json().request_id}"`);
  });

  it('a replay of the staging projection from offset 0 equals the live one', async () => {
    // the live projection may trail the processor's replies: wait until every request is settled
    const live = await eventually(async () => {
      const d = await dumpStagingProjection(stack.db);
      expect(d.requests.length).toBeGreaterThan(5);
      expect(d.requests.filter((r: any) => r.status === 'QUEUED')).toEqual([]);
      // request/rerun + outcome each; a refused rerun is two lines too (StagingRerunRequested, StagingRerunRefused)
      const refused = d.log.filter((l: any) => l.event === 'StagingRerunRefused').length;
      expect(d.log.length).toBe(d.requests.reduce((n: number, r: any) => n + 2 * r.attempts, 0) + 2 * refused);
      return d;
    });
    const result = await replayProjection(stack.platform, createStagingProjection(stack.platform.domainDeps));
    expect(result.previous).toBe('projection_staging__old');
    expect(await dumpStagingProjection(stack.db)).toEqual(live);
  });
});

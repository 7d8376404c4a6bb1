// Who did what (issue 21.3) end to end through the gateway on the real stack: the history projection
// records every event of an entity with the token name that caused it, for staging requests (staged over
// HTTP), DIDs (registered by a producer, deleted by an operator: rucio #6360's question) and the generic route.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { eventually, type TestStack } from './support/stack.ts';
import { createStagingProcessor } from '../processors/staging/index.ts';
import { createStagingProjection } from '../projections/staging/index.ts';
import { createHistoryProjection } from '../projections/history/index.ts';
import { replayProjection } from '../platform/replay.ts';
import { makeSite, startStagingStack, stage, type Site } from './staging/fixture.ts';

let site: Site;
let stack: TestStack;

beforeAll(async () => {
  site = makeSite();
  stack = await startStagingStack({
    consumers: (deps) => [createStagingProcessor(deps), createStagingProjection(deps), createHistoryProjection(deps)],
    env: site.env,
  });
});

afterAll(async () => {
  await stack?.stop();
  site?.cleanup();
});

const get = (url: string, role: 'reader' | 'operator' = 'reader') => stack.app.inject({ method: 'GET', url, headers: stack.auth(role) });
const appendEvent = (name: string, key: string, body: object, role: 'producer' | 'operator') =>
  stack.app.inject({ method: 'POST', url: `/api/v1/events/${name}`, headers: stack.auth(role), payload: { key, body } });

describe('history end to end', () => {
  it('lists a staging request\'s events with the token that asked and the outcome', async () => {
    const res = await stage(stack, 'local_copy', 'alice', { local_path_on_storage: join(site.root, 'obs', 'f.dat'), relative_path: 'h/f.dat' });
    expect(res.statusCode).toBe(200);
    const id = res.json().request_id as string;
    const body = await eventually(async () => {
      const h = await get(`/api/v1/staging/requests/${id}/history`);
      expect(h.statusCode).toBe(200);
      expect(h.json().events).toHaveLength(2);
      return h.json();
    });
    expect(body).toMatchObject({ domain: 'staging', id });
    expect(body.events.map((e: any) => [e.event, e.actor, e.outcome])).toEqual([
      ['StagingRequested', 'test-producer', 'REQUESTED'],
      ['FileStaged', 'test-producer', 'DONE'],
    ]);
    expect(body.events[0].correlationId).toBe(body.events[1].correlationId);
    expect(body.events[0].offset).toBeLessThan(body.events[1].offset);
    const generic = await get(`/api/v1/history/staging/${id}`);
    expect(generic.json().events).toEqual(body.events);
  });

  it('records a refusal with its error as the outcome', async () => {
    const res = await stage(stack, 'local_copy', 'alice', { local_path_on_storage: join(site.root, 'obs', 'missing.dat'), relative_path: 'h/missing.dat' });
    const id = res.json().request_id ?? res.json().details?.request_id;
    expect(id).toBeTypeOf('string');
    const h = await eventually(async () => {
      const r = await get(`/api/v1/staging/requests/${id}/history`);
      expect(r.json().events).toHaveLength(2);
      return r.json();
    });
    expect(h.events[1]).toMatchObject({ event: 'StagingFailed', outcome: 'FAILED', detail: expect.stringContaining('SOURCE_NOT_FOUND') });
  });

  it('tells who registered and who deleted a DID', async () => {
    expect((await appendEvent('DidRegistered', 'hist:a.fits', { scope: 'hist', name: 'a.fits', didType: 'FILE', metadata: '{}' }, 'producer')).statusCode).toBe(202);
    expect((await appendEvent('DidDeleted', 'hist:a.fits', { scope: 'hist', name: 'a.fits' }, 'operator')).statusCode).toBe(202);
    const h = await eventually(async () => {
      const r = await get(`/api/v1/ivoa/dids/${encodeURIComponent('hist:a.fits')}/history`);
      expect(r.statusCode).toBe(200);
      expect(r.json().events).toHaveLength(2);
      return r.json();
    });
    expect(h.events.map((e: any) => [e.event, e.actor])).toEqual([['DidRegistered', 'test-producer'], ['DidDeleted', 'test-operator']]);
  });

  it('serves tape jobs, ingest files and gw datastores by their keys', async () => {
    expect((await appendEvent('TapeJobRequested', '777001', { jobId: 777001, files: ['a.fits'], obs: null, notifyUrl: 'http://127.0.0.1:9/cb', progress: null }, 'producer')).statusCode).toBe(202);
    expect((await appendEvent('FileDiscovered', 'f-hist-1', { fileId: 'f-hist-1', relPath: 'x/y.fits', sourcePath: '/in/x/y.fits', size: 3, checksum: 'ad:1', mtime: 1 }, 'producer')).statusCode).toBe(202);
    expect((await appendEvent('BufferFlushed', 'ds-hist', { datastoreId: 'ds-hist', archivePath: '/a', n_f: 1, bt_wrt: 8 }, 'operator')).statusCode).toBe(202);
    const cases = [
      ['/api/v1/tape/jobs/777001/history', 'tape', '777001', 'TapeJobRequested', 'test-producer', 'REQUESTED'],
      ['/api/v1/ingest/files/f-hist-1/history', 'ingest', 'f-hist-1', 'FileDiscovered', 'test-producer', 'DONE'],
      ['/api/v1/history/gw/ds-hist', 'gw', 'ds-hist', 'BufferFlushed', 'test-operator', 'DONE'],
    ] as const;
    for (const [url, domain, id, event, actor, outcome] of cases) {
      await eventually(async () => {
        const r = await get(url);
        expect(r.statusCode, url).toBe(200);
        expect(r.json()).toMatchObject({ domain, id, events: [{ event, actor, outcome }] });
      });
    }
  });

  it('rebuilds the same history from the log (dbb replay history)', async () => {
    const dump = async () => (await stack.db.query('SELECT * FROM projection_history.history_events ORDER BY topic, partition, "offset"')).rows;
    const before = await eventually(async () => { const rows = await dump(); expect(rows.length).toBeGreaterThanOrEqual(9); return rows; });
    const res = await replayProjection(stack.platform, createHistoryProjection(stack.platform.domainDeps));
    expect(res.previous).toBe('projection_history__old');
    expect(await dump()).toEqual(before);
  });

  it('answers 404 problem for an entity without events, 400 for an unknown domain, 401 without a token', async () => {
    for (const url of ['/api/v1/tape/jobs/424242/history', '/api/v1/ingest/files/nope/history', '/api/v1/history/gw/nope', '/api/v1/staging/requests/nope/history']) {
      const r = await get(url);
      expect(r.statusCode, url).toBe(404);
      expect(r.headers['content-type']).toContain('application/problem+json');
      expect(r.json().code).toBe('DBB_HISTORY_NOT_FOUND');
    }
    expect((await get('/api/v1/history/nodomain/x')).statusCode).toBe(400);
    expect((await stack.app.inject({ method: 'GET', url: '/api/v1/history/staging/x' })).statusCode).toBe(401);
  });
});

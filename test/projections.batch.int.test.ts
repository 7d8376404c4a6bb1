// Every projection (each has a batch path): handleBatch over a whole log writes exactly what handle writes
// event by event (the runtime falls back to handle when handleBatch throws, and a replay batches what
// live consumption applied one by one), and a second pass over the same log changes nothing.
// Postgres only: each projection's migrations run into two schemas of a private database.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { createPool, migrateConsumerSchema, quoteIdent, withTx, type Db } from '../platform/db.ts';
import type { BatchContext, ConsumerSpec, DecodedEvent, DomainDeps, HandlerContext } from '../platform/types.ts';
import { createStagingProjection } from '../projections/staging/index.ts';
import { createGwProjection } from '../projections/gw/index.ts';
import { createIvoaProjection } from '../projections/ivoa/index.ts';
import { createIngestProjection } from '../projections/ingest/index.ts';
import { createTapeProjection } from '../projections/tape/index.ts';

const baseUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const adminUrl = () => { const u = new URL(baseUrl); u.pathname = '/postgres'; return u.toString(); };
const dbName = `dbb_t${randomBytes(4).toString('hex')}_batch`;
const dbUrl = (() => { const u = new URL(baseUrl); u.pathname = `/${dbName}`; return u.toString(); })();
let db: Db;

async function admin(sql: string) {
  const c = new pg.Client({ connectionString: adminUrl() });
  await c.connect();
  try { await c.query(sql); } finally { await c.end(); }
}

beforeAll(async () => {
  await admin(`CREATE DATABASE "${dbName}"`);
  db = createPool(dbUrl, 2);
});
afterAll(async () => {
  await db?.end();
  await admin(`DROP DATABASE IF EXISTS "${dbName}" WITH (FORCE)`);
});

const deps = { env: {} } as unknown as DomainDeps;
let n = 0;
function event(topic: string, key: string, name: string, body: Record<string, unknown>, offset: number): DecodedEvent {
  const meta = { eventId: `00000000-0000-4000-8000-${String(++n).padStart(12, '0')}`, occurredAt: 1_700_000_000_000 + offset * 1000, correlationId: 'c', causationId: null, actor: 'alice', source: 'test' };
  return { name, value: { meta, ...body }, meta, key, topic, partition: 0, offset: String(offset) } as unknown as DecodedEvent;
}

const ctxOf = (tx: pg.PoolClient) => ({ tx, log: console, forEvent: () => ({ tx }) as unknown as HandlerContext }) as unknown as BatchContext & HandlerContext;

async function rebuild(spec: ConsumerSpec, schema: string, events: DecodedEvent[], how: 'handle' | 'handleBatch', batch = events.length) {
  await db.query(`DROP SCHEMA IF EXISTS ${quoteIdent(schema)} CASCADE`);
  await migrateConsumerSchema(dbUrl, schema, spec.migrationsDir);
  for (let i = 0; i < events.length; i += batch) await apply(spec, schema, events.slice(i, i + batch), how);
}

async function apply(spec: ConsumerSpec, schema: string, events: DecodedEvent[], how: 'handle' | 'handleBatch') {
  await withTx(db, async (tx) => {
    if (how === 'handleBatch') await spec.handleBatch!(events, ctxOf(tx));
    else for (const e of events) await spec.handle(e, ctxOf(tx));
  }, schema);
}

async function dump(schema: string, tables: Record<string, string>) {
  const out: Record<string, unknown[]> = {};
  for (const [table, order] of Object.entries(tables)) {
    out[table] = (await db.query(`SELECT * FROM ${quoteIdent(schema)}.${table} ORDER BY ${order}`)).rows;
  }
  return out;
}

async function expectAgreement(spec: ConsumerSpec, events: DecodedEvent[], tables: Record<string, string>) {
  const one = `${spec.name.replace('.', '_')}_one`;
  const all = `${spec.name.replace('.', '_')}_all`;
  await rebuild(spec, one, events, 'handle');
  await rebuild(spec, all, events, 'handleBatch');
  const byEvent = await dump(one, tables);
  expect(Object.values(byEvent).every((rows) => rows.length > 0)).toBe(true);
  expect(await dump(all, tables)).toEqual(byEvent);
  // batches of 3: changes of one entity spread over batches meet rows that earlier batches wrote
  const threes = `${spec.name.replace('.', '_')}_threes`;
  await rebuild(spec, threes, events, 'handleBatch', 3);
  expect(await dump(threes, tables)).toEqual(byEvent);
  await apply(spec, all, events, 'handleBatch');
  await apply(spec, one, events, 'handle');
  expect(await dump(all, tables)).toEqual(byEvent);
  expect(await dump(one, tables)).toEqual(byEvent);
}

describe('handleBatch agrees with handle', () => {
  it('staging: creations, a failure, a rerun and its success, a refused rerun, a second outcome, a duplicate request, waiting, notifications', async () => {
    const t = 'dbb.staging.requests';
    const req = (id: string) => ({ requestId: id, method: 'local_copy', username: 'alice', localPathOnStorage: `/s/${id}`, relativePath: id });
    const staged = (id: string, skipped = false) => ({ requestId: id, method: 'local_copy', username: 'alice', sourcePath: `/s/${id}`, destination: `/u/${id}`, sizeBytes: 3, skipped, reconciled: false, startedAt: 1, finishedAt: 2 });
    const failed = (id: string) => ({ requestId: id, method: 'local_copy', username: 'alice', code: 'SOURCE_NOT_FOUND', reason: 'gone', startedAt: null, finishedAt: null });
    let o = 0;
    const events = [
      event(t, 'r1', 'StagingRequested', req('r1'), o++),
      event(t, 'r2', 'StagingRequested', req('r2'), o++),
      event(t, 'r1', 'StagingFailed', failed('r1'), o++),
      event(t, 'r2', 'FileStaged', staged('r2'), o++),
      event(t, 'r1', 'StagingRerunRequested', { requestId: 'r1', reason: 'source back' }, o++),
      event(t, 'r1', 'FileStaged', staged('r1'), o++),
      event(t, 'r2', 'FileStaged', staged('r2', true), o++), // a second outcome: the request is no longer QUEUED
      event(t, 'r2', 'StagingRerunRefused', { requestId: 'r2', code: 'NOT_FAILED', status: 'SUCCESS', reason: 'SUCCESS' }, o++),
      event(t, 'r1', 'StagingRerunRequested', { requestId: 'r1', reason: 'again' }, o++), // not FAILURE: nothing
      event(t, 'r3', 'StagingRequested', req('r3'), o++),
      event(t, 'r2', 'StagingRequested', req('r2'), o++), // requested again under the same id: nothing
      event(t, 'r3', 'StagingFailed', failed('r3'), o++),
      event(t, 'r3', 'StagingRerunRequested', { requestId: 'r3', reason: null }, o++),
      event(t, 'r4', 'StagingRequested', { ...req('r4'), notifyUrl: 'http://cb/r4' }, o++),
      event(t, 'r4', 'StagingWaiting', { requestId: 'r4', username: 'alice', active: 3, position: 1 }, o++),
      event(t, 'r4', 'StagingStarted', { requestId: 'r4', username: 'alice', after: 'r1' }, o++),
      event(t, 'r4', 'StagingFailed', failed('r4'), o++),
      event(t, 'r4', 'StagingNotificationFailed', { requestId: 'r4', deliveryId: 'd1', attempts: 3, error: 'HTTP 500' }, o++),
      event(t, 'r4', 'StagingWaiting', { requestId: 'r4', username: 'alice', active: 3, position: 1 }, o++), // not QUEUED: nothing
      event(t, 'r4', 'StagingRerunRequested', { requestId: 'r4', reason: 'again' }, o++), // notify_status PENDING again
      event(t, 'r4', 'StagingNotificationDelivered', { requestId: 'r4', deliveryId: 'd2', attempts: 1, httpStatus: 200 }, o++),
    ];
    await expectAgreement(createStagingProjection(deps), events, { staging_requests: 'request_id', staging_log: 'event_id' });
  });

  it('gw: chunks, freeze, refusal, flush, deferral, on two datastores', async () => {
    const t = 'dbb.gw.datastore';
    const chunk = (ds: string, k: number, nItm: number) => ({ datastoreId: ds, fileName: `gw_${k}.json`, bytes: 30, nSamples: 2, t0: k, dt: 0.5, nItm, buffSize: 30 * nItm, reconciled: false });
    let o = 0;
    const events = [
      event(t, 'ds1', 'GwChunkStored', chunk('ds1', 1, 1), o++),
      event(t, 'ds2', 'GwChunkStored', chunk('ds2', 1, 1), o++),
      event(t, 'ds1', 'GwChunkStored', chunk('ds1', 2, 2), o++),
      event(t, 'ds1', 'BufferFrozen', { datastoreId: 'ds1', user: 'u', tokenOwner: 't', n_f: 2, bt_wrt: 60 }, o++),
      event(t, 'ds1', 'GwChunkFailed', { datastoreId: 'ds1', reason: 'FROZEN', nSamples: 2, t0: 3 }, o++),
      event(t, 'ds1', 'BufferFlushed', { datastoreId: 'ds1', archivePath: '/a/1', n_f: 2, bt_wrt: 60, msg: 'm', reconciled: false }, o++),
      event(t, 'ds1', 'GwChunkStored', chunk('ds1', 3, 1), o++),
      event(t, 'ds2', 'TrainDeferred', { datastoreId: 'ds2', user: 'v', tokenOwner: 't', n_f: 1, bt_wrt: 30, maxSize: 9 }, o++),
      event(t, 'ds2', 'GwChunkStored', chunk('ds2', 2, 2), o++),
    ];
    await expectAgreement(createGwProjection(deps), events, { datastores: 'datastore_id', files: 'datastore_id, file_name', history: 'datastore_id, event_offset' });
  });

  it('ivoa: registration, update, replicas added and removed, deletion and re-registration', async () => {
    const t = 'dbb.ivoa.dids';
    const md = (ra: number) => JSON.stringify({ s_ra: ra, s_dec: 1, target_name: `t${ra}` });
    const replica = (name: string, rse: string) => ({ scope: 's', name, rse, accessUrl: `root://${rse}/${name}`, site: rse, siteLat: 10, siteLon: 20 });
    let o = 0;
    const events = [
      event(t, 's:a', 'DidRegistered', { scope: 's', name: 'a', didType: 'FILE', metadata: md(1) }, o++),
      event(t, 's:b', 'DidRegistered', { scope: 's', name: 'b', didType: 'FILE', metadata: md(2) }, o++),
      event(t, 's:a', 'ReplicaAdded', replica('a', 'R1'), o++),
      event(t, 's:a', 'ReplicaAdded', replica('a', 'R2'), o++),
      event(t, 's:a', 'DidMetadataUpdated', { scope: 's', name: 'a', metadata: md(3) }, o++),
      event(t, 's:a', 'ReplicaRemoved', { scope: 's', name: 'a', rse: 'R1' }, o++),
      event(t, 's:b', 'DidDeleted', { scope: 's', name: 'b' }, o++),
      event(t, 's:c', 'DidRegistered', { scope: 's', name: 'c', didType: 'FILE', metadata: md(4) }, o++),
      event(t, 's:c', 'DidDeleted', { scope: 's', name: 'c' }, o++),
      event(t, 's:c', 'DidRegistered', { scope: 's', name: 'c', didType: 'FILE', metadata: md(5) }, o++),
    ];
    await expectAgreement(createIvoaProjection(deps), events, {
      obscore: 'rucio_did_scope, rucio_did_name', did_tombstones: 'scope, name', replicas: 'scope, name, rse',
    });
  });

  it('ingest: discovery, move, queue, failed and successful attempts, rerun, an illegal move, duplicates and backfill', async () => {
    const t = 'dbb.ingest.files';
    const file = (id: string) => ({ fileId: id, relPath: `${id}.fits`, checksum: `c${id}`, size: 3, sourcePath: `/b/${id}.fits` });
    const attempt = (id: string, n: number, status: string, error: string | null) =>
      ({ fileId: id, attempt: n, plugin: 'Registry', status, durationMs: 7, error, details: error ? null : '{"x":1}' });
    let o = 0;
    const events = [
      event(t, 'f1', 'FileDiscovered', file('f1'), o++),
      event(t, 'f2', 'FileMoved', { ...file('f2'), storagePath: '/s/f2.fits' }, o++),
      event(t, 'f1', 'FileMoved', { ...file('f1'), storagePath: '/s/f1.fits' }, o++),
      event(t, 'f1', 'IngestQueued', { fileId: 'f1', attempt: 1, plugin: 'Registry' }, o++),
      event(t, 'f1', 'IngestAttempted', attempt('f1', 1, 'FAILURE', 'boom'), o++),
      event(t, 'f2', 'IngestAttempted', attempt('f2', 1, 'SUCCESS', null), o++), // not queued: history only
      event(t, 'f1', 'IngestRerunRequested', { fileId: 'f1', reason: 'fixed' }, o++),
      event(t, 'f1', 'IngestQueued', { fileId: 'f1', attempt: 2, plugin: 'Registry' }, o++),
      event(t, 'f1', 'IngestAttempted', attempt('f1', 2, 'SUCCESS', null), o++),
      event(t, 'f3', 'DuplicateFound', { ...file('f3'), storagePath: '/s/f3.fits', action: 'Keep' }, o++),
      event(t, 'f4', 'FileBackfilled', { ...file('f4'), storagePath: '/s/f4.fits' }, o++),
      event(t, 'f5', 'FileConflictFound', { ...file('f5'), reason: 'checksum differs' }, o++),
      event(t, 'f2', 'IngestQueued', { fileId: 'f2', attempt: 1, plugin: 'Registry' }, o++),
      event(t, 'f5', 'IngestAttempted', attempt('f5', 1, 'SUCCESS', null), o++), // not queued: the status stays
    ];
    await expectAgreement(createIngestProjection(deps), events, { files: 'file_id', file_events: 'event_id' });
  });

  it('tape: jobs requested, created, notified twice, completed, called back, failed at creation, cancelled; heartbeats', async () => {
    const t = 'dbb.tape.jobs';
    const requested = (jobId: number, files: string[]) => ({ jobId, files, obs: null, notifyUrl: `http://cb/${jobId}` });
    let o = 0;
    const events = [
      event(t, '1', 'TapeJobRequested', requested(1, ['a', 'b', 'c']), o++),
      event(t, '2', 'TapeJobRequested', requested(2, ['x']), o++),
      event(t, '1', 'TapeJobCreated', { jobId: 1, files: ['a', 'b', 'c'], notifyUrl: 'http://cb/1', deadline: 1_700_000_900_000 }, o++),
      event(t, '1', 'TapeJobStageSubmitted', { jobId: 1 }, o++),
      event(t, '1', 'TapeFilesStaged', { jobId: 1, staged: ['a'], failed: [{ file: 'b', error: 'tape error' }], firstNotifiedAt: 1 }, o++),
      event(t, '2', 'TapeJobCreated', { jobId: 2, files: ['x'], notifyUrl: 'http://cb/2', deadline: 1_700_000_900_000 }, o++),
      event(t, '1', 'TapeFilesStaged', { jobId: 1, staged: ['b', 'c'], failed: [], firstNotifiedAt: 2 }, o++), // b already failed
      event(t, '1', 'TapeJobCompleted', { jobId: 1, returnCode: 0, totalFiles: 3, readyFiles: 2, errorFiles: 1, comment: 'done', notifyUrl: 'http://cb/1' }, o++),
      event(t, 'tick', 'TapeJobTimeoutChecked', { tick: 1, notificationsConsumed: 5, cache: '{"a":1}' }, o++),
      event(t, '1', 'TapeCallbackFailed', { jobId: 1, deliveryId: 'd', attempts: 3, error: 'HTTP 500' }, o++),
      event(t, '1', 'TapeCallbackDelivered', { jobId: 1, deliveryId: 'd', attempts: 4 }, o++),
      event(t, '3', 'TapeJobRequested', requested(3, ['y']), o++),
      event(t, '3', 'TapeJobCreationFailed', { jobId: 3, returnCode: 2, comment: 'no such file' }, o++),
      event(t, '2', 'TapeJobCancelled', { jobId: 2, wasInFlight: true }, o++),
      event(t, '2', 'TapeFilesStaged', { jobId: 2, staged: ['x'], failed: [], firstNotifiedAt: 3 }, o++), // after the cancel: nothing
      event(t, 'tick', 'TapeJobTimeoutChecked', { tick: 2, notificationsConsumed: 9, cache: null }, o++),
      // not completed (the counts are the files' own), released twice, one file unknown
      event(t, '4', 'TapeJobRequested', requested(4, ['p', 'q', 'r']), o++),
      event(t, '4', 'TapeJobCreated', { jobId: 4, files: ['p', 'q', 'r'], notifyUrl: 'http://cb/4', deadline: 1_700_000_900_000 }, o++),
      event(t, '4', 'TapeFilesStaged', { jobId: 4, staged: ['p'], failed: [{ file: 'q', error: 'tape error' }], firstNotifiedAt: 4 }, o++),
      event(t, '4', 'TapeFilesReleased', { jobId: 4, files: ['p', 'zz'] }, o++),
      event(t, '4', 'TapeFilesStaged', { jobId: 4, staged: ['r', 'p'], failed: [], firstNotifiedAt: 5 }, o++),
      event(t, '4', 'TapeFilesReleased', { jobId: 4, files: ['p', 'r'] }, o++),
    ];
    await expectAgreement(createTapeProjection(deps), events, { jobs: 'job_id', files: 'job_id, name', adapter: 'id' });
  });
});

// Ingest end to end on the real stack (Kafka, registry, Postgres) with real files in temp dirs: the
// finder (watch mode) moves files into storage, the ingester registers them with the Registry plugin
// (FITS header data ids), and the gateway shows the status, the full history and the counts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, mkdir, open, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestStack, eventually, type TestStack } from './support/stack.ts';
import { createIngestProcessor } from '../processors/ingest/index.ts';
import { createIngestProjection } from '../projections/ingest/index.ts';
import { createFinder, type Finder } from '../producers/ingest-finder/index.ts';
import { validateIngestConfig, type FinderConfig } from '../domains/ingest/config.ts';
import { backfill } from '../producers/ingest-backfill/index.ts';
import { replayProjection } from '../platform/replay.ts';
import { fitsBytes, writeTree } from './fixtures/ingest/make.ts';
import { fileIdOf } from '../domains/ingest/ids.ts';
import { gone, ingestApi, sha } from './ingest/gateway.ts';

let stack: TestStack;
let root: string;
let finder: Finder;
let cfg: FinderConfig;

const { get, fileRow, events } = ingestApi(() => stack);

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'ingest-e2e-'));
  stack = await startTestStack({
    consumers: (deps) => [createIngestProcessor(deps), createIngestProjection(deps)],
    env: { INGEST_PLUGIN: 'Registry', INGEST_PLUGIN_CONFIG: JSON.stringify({ datasetType: 'raw', headerKeys: ['INSTRUME', 'EXPID'] }) },
  });
  cfg = validateIngestConfig({
    finder: { source: join(root, 'buffer'), storage: join(root, 'storage'), actions: { standard: 'Move', alternative: 'Delete' }, search: { method: 'watch', interval: 500, complete: 'closed', stableMs: 300 } },
  }).finder as FinderConfig;
  await mkdir(cfg.source, { recursive: true });
  await mkdir(cfg.storage, { recursive: true });
  finder = await createFinder({ appender: stack.appender, log: stack.platform.log }, cfg);
  finder.start();
});

afterAll(async () => {
  await finder?.stop();
  await stack?.stop();
  await rm(root, { recursive: true, force: true });
});

const A = fitsBytes({ INSTRUME: 'LATISS', EXPID: 1001 });
const idA = fileIdOf('2020-12-31/a.fits', sha(A));

describe('ingest: finder + ingester + gateway', () => {
  it('moves files dropped into the buffer into storage and ingests them, with the full history', async () => {
    const files = { '2020-12-31/a.fits': A, '2020-12-31/b.fits': fitsBytes({ INSTRUME: 'LATISS', EXPID: 1002 }), 'c.fits': fitsBytes({ INSTRUME: 'COMCAM', EXPID: 7 }) };
    await writeTree(cfg.source, files);
    await eventually(async () => expect((await get('/api/v1/ingest/counts')).json()).toMatchObject({ SUCCESS: 3 }), { timeoutMs: 60_000 });
    for (const rel of Object.keys(files)) {
      expect(await gone(join(cfg.source, rel))).toBe(true);
      expect(await readFile(join(cfg.storage, rel))).toEqual(files[rel as keyof typeof files]);
    }
    const history = await events(idA);
    expect(history.map((e) => [e.event, e.status])).toEqual([
      ['FileDiscovered', null], ['FileMoved', 'UNTRIED'], ['IngestQueued', 'PENDING'], ['IngestAttempted', 'SUCCESS'],
    ]);
    expect(history[3]).toMatchObject({ plugin: 'Registry', attempt: 1, error: null, details: { datasetType: 'raw', dataId: { INSTRUME: 'LATISS', EXPID: 1001 } } });
    expect(history[3].durationMs).toBeGreaterThanOrEqual(0);
    const list = (await get('/api/v1/ingest/files?status=SUCCESS')).json().files;
    expect(list.map((f: any) => f.relPath).sort()).toEqual(['2020-12-31/a.fits', '2020-12-31/b.fits', 'c.fits']);
    expect(list.find((f: any) => f.fileId === idA)).toMatchObject({ status: 'SUCCESS', inStorage: true, storagePath: join(cfg.storage, '2020-12-31/a.fits'), attempts: 1, size: A.length, checksum: sha(A) });
    const repo = await stack.db.query(`SELECT data_id FROM ingest_repo.datasets WHERE file_id = $1`, [idA]);
    expect(repo.rows[0].data_id).toEqual({ INSTRUME: 'LATISS', EXPID: 1001 });
    expect((await get('/api/v1/ingest/files?status=SUCCESS&since=2999-01-01T00:00:00Z')).json().files).toEqual([]);
  });

  it('deletes an identical duplicate (alternative action) and never overwrites a same-name different file', async () => {
    await writeTree(cfg.source, { '2020-12-31/a.fits': A, 'c.fits': fitsBytes({ INSTRUME: 'COMCAM', EXPID: 8 }) });
    await eventually(async () => expect((await events(idA)).map((e) => e.event)).toContain('DuplicateFound'), { timeoutMs: 60_000 });
    expect(await gone(join(cfg.source, '2020-12-31/a.fits'))).toBe(true);
    expect((await fileRow(idA)).status).toBe('SUCCESS');
    const clash = fileIdOf('c.fits', sha(fitsBytes({ INSTRUME: 'COMCAM', EXPID: 8 })));
    await eventually(async () => expect(await fileRow(clash)).toMatchObject({ status: 'FAILURE', inStorage: false, lastError: expect.stringMatching(/same name is already in storage/) }), { timeoutMs: 60_000 });
    expect(await readFile(join(cfg.storage, 'c.fits'))).toEqual(fitsBytes({ INSTRUME: 'COMCAM', EXPID: 7 }));
    expect(await gone(join(cfg.source, 'c.fits'))).toBe(false);
    await rm(join(cfg.source, 'c.fits'));
  });

  it('does not take a half-written file until it is complete (closed)', async () => {
    const full = fitsBytes({ INSTRUME: 'LATISS', EXPID: 2001 }, 'x'.repeat(40));
    const path = join(cfg.source, 'slow/half.fits');
    await mkdir(join(cfg.source, 'slow'), { recursive: true });
    const fh = await open(path, 'w');
    await fh.write(full.subarray(0, 1000));
    await fh.sync();
    // old enough for the stability rule; only the open handle keeps it from being taken
    await eventually(async () => expect(Date.now() - (await stat(path)).mtimeMs).toBeGreaterThan(cfg.search.stableMs + 100));
    expect(await finder.scanOnce()).toMatchObject({ waiting: 1 });
    expect(await finder.scanOnce()).toMatchObject({ waiting: 1 });
    expect(await gone(path)).toBe(false);
    expect((await get('/api/v1/ingest/files?limit=10000')).json().files.map((f: any) => f.relPath)).not.toContain('slow/half.fits');
    await fh.write(full.subarray(1000), 0, full.length - 1000, 1000);
    await fh.close();
    const id = fileIdOf('slow/half.fits', sha(full));
    await eventually(async () => expect(await fileRow(id)).toMatchObject({ status: 'SUCCESS', size: full.length }), { timeoutMs: 60_000 });
    expect(sha(await readFile(join(cfg.storage, 'slow/half.fits')))).toBe(sha(full));
  });

  it('records FAILURE when the plugin refuses a file, and a rerun through the gateway succeeds with both attempts in the history', async () => {
    const dupId = fitsBytes({ INSTRUME: 'LATISS', EXPID: 1001 }, 'other content, same data id');
    await writeTree(cfg.source, { 'later/a2.fits': dupId });
    const id = fileIdOf('later/a2.fits', sha(dupId));
    await eventually(async () => expect(await fileRow(id)).toMatchObject({ status: 'FAILURE', lastError: expect.stringMatching(/already registered by file/) }), { timeoutMs: 60_000 });

    const bad = await stack.app.inject({ method: 'POST', url: '/api/v1/ingest/rerun', headers: stack.auth('operator'), payload: { status: 'BOGUS' } });
    expect(bad.statusCode).toBe(400);
    const reader = await stack.app.inject({ method: 'POST', url: '/api/v1/ingest/rerun', headers: stack.auth('reader'), payload: { status: 'FAILURE' } });
    expect(reader.statusCode).toBe(403);
    expect((await fileRow(id)).status).toBe('FAILURE');

    await stack.db.query(`DELETE FROM ingest_repo.datasets WHERE file_id = $1`, [idA]); // the operator frees the data id
    const res = await stack.app.inject({ method: 'POST', url: '/api/v1/ingest/rerun', headers: stack.auth('operator'), payload: { status: 'FAILURE', files: ['later/a2.fits'], reason: 'data id freed' } });
    expect(res.statusCode).toBe(202);
    expect(res.json()).toMatchObject({ count: 1, fileIds: [id] });
    await eventually(async () => expect(await fileRow(id)).toMatchObject({ status: 'SUCCESS', attempts: 2 }), { timeoutMs: 60_000 });
    const history = await events(id);
    expect(history.filter((e) => e.event === 'IngestAttempted').map((e) => [e.attempt, e.status])).toEqual([[1, 'FAILURE'], [2, 'SUCCESS']]);
    expect(history.map((e) => e.status).filter(Boolean)).toEqual(['UNTRIED', 'PENDING', 'FAILURE', 'RERUN', 'PENDING', 'SUCCESS']);
    expect(history.find((e) => e.event === 'IngestRerunRequested')).toMatchObject({ actor: 'test-operator' });
  });

  it('backfills a tree of 1,000 files already in storage as BACKFILL, once', async () => {
    const tree: Record<string, string> = {};
    for (let d = 0; d < 10; d++) for (let f = 0; f < 100; f++) tree[`old/2019-0${d}-01/f${f}.dat`] = `file ${d}/${f}`;
    tree['old/other/skip.dat'] = 'not selected';
    await writeTree(cfg.storage, tree);
    const deps = { appender: stack.appender, db: stack.db, log: stack.platform.log };
    const r = await backfill(deps, { storage: cfg.storage, sources: ['old/2019-0?-01'] });
    expect(r).toMatchObject({ found: 1000, recorded: 1000, skipped: 0 });
    await eventually(async () => expect((await get('/api/v1/ingest/counts')).json().BACKFILL).toBe(1000), { timeoutMs: 90_000 });
    const again = await backfill(deps, { storage: cfg.storage, sources: ['old/2019-0?-01/f1.dat', 'old/2019-00-01'] });
    expect(again).toMatchObject({ found: 109, recorded: 0, skipped: 109 });
    const one = fileIdOf('old/2019-03-01/f7.dat', sha('file 3/7'));
    expect((await events(one)).map((e) => [e.event, e.status])).toEqual([['FileBackfilled', 'BACKFILL']]);
  });

  it('rebuilds the projection from offset 0 into exactly the live state', async () => {
    const snapshot = async () => ({
      files: (await stack.db.query('SELECT * FROM projection_ingest.files ORDER BY file_id')).rows,
      events: (await stack.db.query('SELECT * FROM projection_ingest.file_events ORDER BY event_id')).rows,
    });
    const live = await eventually(async () => {
      const a = await snapshot();
      await new Promise((r) => setTimeout(r, 500));
      expect(await snapshot()).toEqual(a); // settled
      return a;
    }, { timeoutMs: 60_000 });
    await replayProjection(stack.platform, createIngestProjection(stack.platform.domainDeps));
    expect(await snapshot()).toEqual(live);
  });
});

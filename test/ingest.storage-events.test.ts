// Event-driven discovery on the real stack: storage-event JSON (S3/MinIO notifications, plain {path})
// produced to the storage-events topic; the finder consumes it on the platform consumer runtime, moves
// the named files into storage and the ingester registers them; seen through the gateway's ingest API.
// Bad records (garbage, traversal, escapes, links, missing files) land in the topic's .dlq with a reason.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestStack, eventually, type TestStack } from './support/stack.ts';
import { createIngestProcessor } from '../processors/ingest/index.ts';
import { createIngestProjection } from '../projections/ingest/index.ts';
import { createFinder, type Finder } from '../producers/ingest-finder/index.ts';
import { startStorageEvents } from '../producers/ingest-finder/storage-events.ts';
import { validateIngestConfig, type FinderConfig } from '../domains/ingest/config.ts';
import { fileIdOf } from '../domains/ingest/ids.ts';
import { ns } from '../platform/config.ts';
import { fitsBytes, writeTree } from './fixtures/ingest/make.ts';
import { gone, ingestApi, sha } from './ingest/gateway.ts';

let stack: TestStack;
let root: string;
let finder: Finder;
let cfg: FinderConfig;

const { get, fileRow, events: history } = ingestApi(() => stack);

/** Produces raw JSON (not our Avro) to the storage-events topic, all on one key: one partition, in order. */
async function storageEvent(value: unknown) {
  await stack.platform.producer.send({ topic: ns(stack.config, cfg.events.topic), key: 'storage', value: Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)), headers: {} });
}
const s3 = (key: string, sequencer: string) => ({
  EventName: 's3:ObjectCreated:Put', Key: `raw/${key}`,
  Records: [{ eventVersion: '2.0', eventSource: 'minio:s3', eventTime: new Date().toISOString(), eventName: 's3:ObjectCreated:Put', s3: { bucket: { name: 'raw' }, object: { key, size: 1, eTag: 'e', sequencer } } }],
});

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'ingest-events-'));
  stack = await startTestStack({
    consumers: (deps) => [createIngestProcessor(deps), createIngestProjection(deps)],
    env: { INGEST_PLUGIN: 'Registry', INGEST_PLUGIN_CONFIG: JSON.stringify({ datasetType: 'raw', headerKeys: ['INSTRUME', 'EXPID'] }) },
  });
  cfg = validateIngestConfig({
    finder: { source: join(root, 'buffer'), storage: join(root, 'storage'), search: { method: 'events', stableMs: 0 } },
  }).finder as FinderConfig;
  await mkdir(cfg.source, { recursive: true });
  await mkdir(cfg.storage, { recursive: true });
  finder = await createFinder({ appender: stack.appender, log: stack.platform.log }, cfg);
  finder.start(); // events mode: no walk; the consumer below drives it
  await startStorageEvents(stack.platform, finder, cfg);
});

afterAll(async () => {
  await finder?.stop();
  await stack?.stop();
  await rm(root, { recursive: true, force: true });
});

const A = fitsBytes({ INSTRUME: 'LATISS', EXPID: 3001 });
const B = fitsBytes({ INSTRUME: 'LATISS', EXPID: 3002 });
const C = fitsBytes({ INSTRUME: 'COMCAM', EXPID: 3003 });

describe('ingest: finder driven by storage events', () => {
  it('takes the files an S3/MinIO notification and a plain {path} name, and only those, and ingests them', async () => {
    await writeTree(cfg.source, { 'night 1/a.fits': A, 'night 1/b.fits': B, 'c.fits': C, 'unannounced.fits': C });
    await storageEvent(s3('night+1/a.fits', '0001'));
    await storageEvent({ path: join(cfg.source, 'night 1/b.fits') });
    await storageEvent({ path: 'c.fits' });
    const ids = [fileIdOf('night 1/a.fits', sha(A)), fileIdOf('night 1/b.fits', sha(B)), fileIdOf('c.fits', sha(C))];
    for (const id of ids) await eventually(async () => expect(await fileRow(id)).toMatchObject({ status: 'SUCCESS', inStorage: true }), { timeoutMs: 60_000 });
    expect(await readFile(join(cfg.storage, 'night 1/a.fits'))).toEqual(A);
    expect(await gone(join(cfg.source, 'night 1/a.fits'))).toBe(true);
    expect((await history(ids[0])).map((e) => [e.event, e.status])).toEqual([
      ['FileDiscovered', null], ['FileMoved', 'UNTRIED'], ['IngestQueued', 'PENDING'], ['IngestAttempted', 'SUCCESS'],
    ]);
    expect(await gone(join(cfg.source, 'unannounced.fits')), 'no walk in events mode').toBe(false);
    expect((await get('/api/v1/ingest/counts')).json()).toMatchObject({ SUCCESS: 3 });
  });

  it('drops a redelivered notification, and treats a new upload of the same key as a new arrival', async () => {
    await writeTree(cfg.source, { 'night 1/a.fits': A }); // the same content arrives again
    await storageEvent(s3('night+1/a.fits', '0001')); // the same notification again: dropped by its id
    const D = fitsBytes({ INSTRUME: 'COMCAM', EXPID: 3004 });
    await writeTree(cfg.source, { 'marker.fits': D });
    await storageEvent({ path: 'marker.fits' });
    await eventually(async () => expect(await fileRow(fileIdOf('marker.fits', sha(D)))).toMatchObject({ status: 'SUCCESS' }), { timeoutMs: 60_000 });
    expect(await gone(join(cfg.source, 'night 1/a.fits')), 'the redelivered record did nothing').toBe(false);
    await storageEvent(s3('night+1/a.fits', '0002')); // a new upload of the same key
    const idA = fileIdOf('night 1/a.fits', sha(A));
    await eventually(async () => expect((await history(idA)).map((e) => e.event)).toContain('DuplicateFound'), { timeoutMs: 60_000 });
    expect(await gone(join(cfg.source, 'night 1/a.fits'))).toBe(true); // alternative action Delete
    expect((await fileRow(idA)).status).toBe('SUCCESS');
  });

  it('sends garbage, traversal, escapes, links and missing files to the .dlq with the reason, and goes on', async () => {
    await writeFile(join(root, 'outside.fits'), C);
    await symlink(join(root, 'outside.fits'), join(cfg.source, 'link.fits'));
    await mkdir(join(root, 'elsewhere'), { recursive: true });
    await writeFile(join(root, 'elsewhere', 'x.fits'), C);
    await symlink(join(root, 'elsewhere'), join(cfg.source, 'linkdir'));
    const bad = [
      'not json at all', { file: 'x' }, { path: '../outside.fits' }, { path: join(root, 'outside.fits') }, s3('..%2Foutside.fits', '9'),
      { path: 'link.fits' }, { path: 'linkdir/x.fits' }, { path: 'never-written.fits' },
    ];
    for (const b of bad) await storageEvent(b);
    const E = fitsBytes({ INSTRUME: 'COMCAM', EXPID: 3005 });
    await writeTree(cfg.source, { 'after.fits': E });
    await storageEvent({ path: 'after.fits' });
    await eventually(async () => expect(await fileRow(fileIdOf('after.fits', sha(E)))).toMatchObject({ status: 'SUCCESS' }), { timeoutMs: 60_000 });
    const dlq = `${cfg.events.topic}.dlq`;
    const letters = await eventually(async () => {
      const res = await stack.app.inject({ method: 'GET', url: `/api/v1/ops/dlq/last?topic=${dlq}&limit=20`, headers: stack.auth('operator') });
      expect(res.statusCode).toBe(200);
      const l = res.json().letters as { headers: Record<string, string> }[];
      expect(l).toHaveLength(bad.length);
      return l.map((x) => x.headers['dbb-error']).sort();
    }, { timeoutMs: 60_000 });
    for (const reason of [/not a storage event: not JSON/, /not a storage event: neither/, /PATH_TRAVERSAL/, /PATH_ESCAPE: .*outside the buffer root/, /link\.fits is a symbolic link/, /linkdir is a symbolic link/, /not in the buffer: .*never-written\.fits/]) {
      expect(letters.some((l) => reason.test(l)), `a dead letter matching ${reason}`).toBe(true);
    }
    expect(letters.filter((l) => /PATH_TRAVERSAL/.test(l))).toHaveLength(2); // {path} and the decoded S3 key
    expect(await readFile(join(root, 'outside.fits'))).toEqual(C);
    expect(await gone(join(root, 'elsewhere', 'x.fits'))).toBe(false);
    expect(await gone(join(cfg.storage, 'link.fits'))).toBe(true);
  });
});

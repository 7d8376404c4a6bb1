// Quarantine end to end on the real stack: a plugin that fails (a Command whose calibration is missing)
// → the processor moves the file out of storage into INGEST_QUARANTINE_DIR with <name>.reason.json beside
// it and records FileQuarantined, visible through the gateway; after the cause is fixed a rerun through
// the gateway (by quarantine path, or by status) brings the file back into storage and ingests it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestStack, eventually, type TestStack } from './support/stack.ts';
import { createIngestProcessor } from '../processors/ingest/index.ts';
import { createIngestProjection } from '../projections/ingest/index.ts';
import { createFinder, type Finder } from '../producers/ingest-finder/index.ts';
import { validateIngestConfig, type FinderConfig } from '../domains/ingest/config.ts';
import { fileIdOf } from '../domains/ingest/ids.ts';
import { replayProjection } from '../platform/replay.ts';
import { writeTree } from './fixtures/ingest/make.ts';
import { gone, ingestApi, sha } from './ingest/gateway.ts';

let stack: TestStack;
let root: string;
let quarantine: string;
let marker: string;
let finder: Finder;
let cfg: FinderConfig;

const { get, fileRow, events: history, rerun } = ingestApi(() => stack);

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'ingest-quarantine-'));
  quarantine = join(root, 'quarantine');
  marker = join(root, 'calibration.ok');
  stack = await startTestStack({
    consumers: (deps) => [createIngestProcessor(deps), createIngestProjection(deps)],
    env: {
      INGEST_PLUGIN: 'Command',
      // fails until the operator provides the calibration (the marker file)
      INGEST_PLUGIN_CONFIG: JSON.stringify({ command: 'sh', args: ['-c', 'test -e "$1" || { echo "no calibration for $2" >&2; exit 3; }', 'sh', marker, '{relPath}'], timeoutMs: 60_000 }),
      INGEST_QUARANTINE_DIR: quarantine,
    },
  });
  cfg = validateIngestConfig({ finder: { source: join(root, 'buffer'), storage: join(root, 'storage'), search: { stableMs: 0 } } }).finder as FinderConfig;
  await mkdir(cfg.source, { recursive: true });
  await mkdir(cfg.storage, { recursive: true });
  finder = await createFinder({ appender: stack.appender, log: stack.platform.log }, cfg);
});

afterAll(async () => {
  await finder?.stop();
  await stack?.stop();
  await rm(root, { recursive: true, force: true });
});

const X = 'content of x';
const Y = 'content of y';
const idX = fileIdOf('n1/x.fits', sha(X));
const idY = fileIdOf('n1/y.fits', sha(Y));

describe('ingest: quarantine of failed files', () => {
  it('moves a file whose ingest fails into quarantine with its reason beside it, visible through the API', async () => {
    await writeTree(cfg.source, { 'n1/x.fits': X, 'n1/y.fits': Y });
    expect(await finder.scanOnce()).toMatchObject({ taken: 2 });
    const list = await eventually(async () => {
      const files = (await get('/api/v1/ingest/files?quarantined=true')).json().files as any[];
      expect(files.map((f) => f.fileId).sort()).toEqual([idX, idY].sort());
      return files;
    }, { timeoutMs: 60_000 });
    const x = list.find((f) => f.fileId === idX);
    expect(x).toMatchObject({ status: 'FAILURE', inStorage: false, quarantinePath: join(quarantine, 'n1/x.fits'), storagePath: join(cfg.storage, 'n1/x.fits'), lastError: expect.stringMatching(/no calibration for n1\/x\.fits/) });
    expect((await get('/api/v1/ingest/files?quarantined=false')).json().files).toEqual([]);
    expect((await get('/api/v1/ingest/counts')).json()).toMatchObject({ FAILURE: 2, SUCCESS: 0 });

    expect(await gone(join(cfg.storage, 'n1/x.fits'))).toBe(true);
    expect(await readFile(join(quarantine, 'n1/x.fits'), 'utf8')).toBe(X);
    const reason = JSON.parse(await readFile(join(quarantine, 'n1/x.fits.reason.json'), 'utf8'));
    expect(reason).toMatchObject({
      fileId: idX, relPath: 'n1/x.fits', checksum: sha(X), storagePath: join(cfg.storage, 'n1/x.fits'), quarantinePath: join(quarantine, 'n1/x.fits'),
      error: expect.stringMatching(/exit.*3|no calibration/), attempts: [{ attempt: 1, status: 'FAILURE', plugin: 'Command', error: expect.stringMatching(/no calibration for n1\/x\.fits/) }],
    });
    expect(Date.parse(reason.quarantinedAt)).not.toBeNaN();
    expect((await history(idX)).map((e) => [e.event, e.status])).toEqual([
      ['FileDiscovered', null], ['FileMoved', 'UNTRIED'], ['IngestQueued', 'PENDING'], ['IngestAttempted', 'FAILURE'], ['FileQuarantined', null],
    ]);
  });

  it('after the cause is fixed, a rerun brings the file back from quarantine and ingests it', async () => {
    await writeFile(marker, 'ok');
    const byPath = await rerun({ status: 'FAILURE', files: [join(quarantine, 'n1/x.fits')], reason: 'calibration provided' });
    expect(byPath.statusCode).toBe(202);
    expect(byPath.json()).toMatchObject({ count: 1, fileIds: [idX] });
    await eventually(async () => expect(await fileRow(idX)).toMatchObject({ status: 'SUCCESS', attempts: 2, inStorage: true, quarantinePath: null }), { timeoutMs: 60_000 });
    expect(await readFile(join(cfg.storage, 'n1/x.fits'), 'utf8')).toBe(X);
    expect(await gone(join(quarantine, 'n1/x.fits'))).toBe(true);
    expect(await gone(join(quarantine, 'n1/x.fits.reason.json'))).toBe(true);
    const h = await history(idX);
    expect(h.map((e) => e.event).slice(4)).toEqual(['FileQuarantined', 'IngestRerunRequested', 'FileRestored', 'IngestQueued', 'IngestAttempted']);
    expect(h.map((e) => e.status).filter(Boolean)).toEqual(['UNTRIED', 'PENDING', 'FAILURE', 'RERUN', 'PENDING', 'SUCCESS']);

    // a rerun by status alone finds the file still in quarantine (it is not in storage)
    const byStatus = await rerun({ status: 'FAILURE' });
    expect(byStatus.json()).toMatchObject({ count: 1, fileIds: [idY] });
    await eventually(async () => expect(await fileRow(idY)).toMatchObject({ status: 'SUCCESS', inStorage: true, quarantinePath: null }), { timeoutMs: 60_000 });
    expect(await readFile(join(cfg.storage, 'n1/y.fits'), 'utf8')).toBe(Y);
    expect((await get('/api/v1/ingest/files?quarantined=true')).json().files).toEqual([]);
  });

  it('rebuilds the projection from offset 0 into the live state, quarantine paths included', async () => {
    const snapshot = async () => (await stack.db.query('SELECT file_id, status, in_storage, quarantine_path, attempts FROM projection_ingest.files ORDER BY file_id')).rows;
    const live = await snapshot();
    await replayProjection(stack.platform, createIngestProjection(stack.platform.domainDeps));
    expect(await snapshot()).toEqual(live);
  });
});

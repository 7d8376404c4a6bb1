// The ingester is killed (SIGKILL of its process) while a slow Command-plugin attempt runs: on restart
// the attempt is reported UNKNOWN (never silently repeated), is visible through the gateway, and a
// non-daemonic rerun (`rerun --once`) ingests it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, mkdir, readFile, rm, writeFile, access } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createHash } from 'node:crypto';
import { startTestStack, eventually, type TestStack } from './support/stack.ts';
import { spawnConsumers, type ConsumerProcess } from './support/consumer-process.ts';
import { createIngestProcessor } from '../processors/ingest/index.ts';
import { createIngestProjection } from '../projections/ingest/index.ts';
import { createFinder, type Finder } from '../producers/ingest-finder/index.ts';
import { validateIngestConfig, type FinderConfig } from '../domains/ingest/config.ts';
import { rerun } from '../cli/ingest.ts';
import { fileIdOf } from '../domains/ingest/ids.ts';

const TOOL = fileURLToPath(new URL('./fixtures/ingest/site-tool.sh', import.meta.url));
let stack: TestStack;
let root: string;
let marks: string;
let finder: Finder;
let cfg: FinderConfig;
let child: ConsumerProcess | null = null;

const get = (url: string) => stack.app.inject({ method: 'GET', url, headers: stack.auth('reader') });
const starts = async (fileId: string) => (await readFile(join(marks, `started-${fileId}`), 'utf8').catch(() => '')).split('\n').filter(Boolean);

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'ingest-crash-'));
  marks = join(root, 'marks');
  await mkdir(marks);
  stack = await startTestStack({
    consumers: (deps) => [createIngestProjection(deps)],
    env: {
      INGEST_PLUGIN: 'Command',
      INGEST_PLUGIN_CONFIG: JSON.stringify({ command: 'sh', args: [TOOL, '{path}', '{fileId}'], timeoutMs: 300_000, env: { MARKS: marks } }),
      INGEST_CONCURRENCY: '1',
    },
  });
  cfg = validateIngestConfig({ finder: { source: join(root, 'buffer'), storage: join(root, 'storage'), search: { stableMs: 0 } } }).finder as FinderConfig;
  await mkdir(cfg.source, { recursive: true });
  finder = await createFinder({ appender: stack.appender, log: stack.platform.log }, cfg);
});

afterAll(async () => {
  if (child && child.child.exitCode === null) child.child.kill('SIGKILL');
  for (const f of ['slow', 'fail']) await rm(join(marks, f), { force: true });
  await finder?.stop();
  await stack?.stop();
  await rm(root, { recursive: true, force: true });
});

describe('ingest: a crash during an attempt', () => {
  it('reports UNKNOWN after a SIGKILL mid-attempt, runs the tool only once, and a rerun --once ingests the file', { timeout: 300_000 }, async () => {
    child = spawnConsumers(stack.env, 'processors/ingest/index.ts', 'createIngestProcessor');
    await child.ready;
    await writeFile(join(marks, 'slow'), '');
    const content = 'raw bytes of exposure 42\n';
    await writeFile(join(cfg.source, 'exp42.dat'), content);
    expect(await finder.scanOnce()).toMatchObject({ taken: 1 });
    const id = fileIdOf('exp42.dat', createHash('sha256').update(content).digest('hex'));

    // the tool is running (slow); PENDING and the outcome commit together, so the file still shows UNTRIED
    await eventually(async () => expect(await starts(id)).toHaveLength(1), { timeoutMs: 90_000 });
    await eventually(async () => expect((await get(`/api/v1/ingest/files/${id}`)).json().status).toBe('UNTRIED'), { timeoutMs: 30_000 });

    child.child.kill('SIGKILL');
    await child.exited;
    const [toolPid] = await starts(id);
    try { process.kill(-Number(toolPid), 'SIGKILL'); } catch { /* already gone */ }
    await rm(join(marks, 'slow'));

    await stack.startConsumers((deps) => [createIngestProcessor(deps)]);
    await eventually(async () => expect((await get(`/api/v1/ingest/files/${id}`)).json().status).toBe('UNKNOWN'), { timeoutMs: 180_000, intervalMs: 500 });
    const history = (await get(`/api/v1/ingest/files/${id}/events`)).json().events;
    expect(history.map((e: any) => e.status).filter(Boolean)).toEqual(['UNTRIED', 'PENDING', 'UNKNOWN']);
    expect(history.find((e: any) => e.event === 'IngestAttempted')).toMatchObject({ status: 'UNKNOWN', attempt: 1, plugin: 'Command', error: expect.stringMatching(/unknown/) });
    expect(await starts(id), 'the interrupted attempt is not silently repeated').toHaveLength(1);
    expect((await get('/api/v1/ingest/counts')).json()).toMatchObject({ UNKNOWN: 1 });

    const r = await rerun(stack.platform, { statuses: ['UNKNOWN'], once: true });
    expect(r).toMatchObject({ fileIds: [id], done: true });
    expect((await get(`/api/v1/ingest/files/${id}`)).json()).toMatchObject({ status: 'SUCCESS', attempts: 2 });
    const after = (await get(`/api/v1/ingest/files/${id}/events`)).json().events;
    expect(after.filter((e: any) => e.event === 'IngestAttempted').map((e: any) => [e.attempt, e.status])).toEqual([[1, 'UNKNOWN'], [2, 'SUCCESS']]);
    expect(await starts(id)).toHaveLength(2);
    await expect(access(join(cfg.storage, 'exp42.dat'))).resolves.toBeUndefined();
  });
});

// The finder is SIGKILLed while it moves a few hundred files; a restarted finder reconciles its journal
// and rescans: every file ends up in storage exactly once, with exactly one FileMoved, and is ingested once.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startTestStack, eventually, type TestStack } from './support/stack.ts';
import { createIngestProcessor } from '../processors/ingest/index.ts';
import { createIngestProjection } from '../projections/ingest/index.ts';
import { createFinder, type Finder } from '../producers/ingest-finder/index.ts';
import { finderOf, loadIngestConfig } from '../domains/ingest/config.ts';
import { walk } from '../producers/ingest-finder/fsops.ts';
import { writeTree } from './fixtures/ingest/make.ts';
import { fileIdOf } from '../domains/ingest/ids.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const N = 800;
let stack: TestStack;
let root: string;
let child: ChildProcess | null = null;
let finder: Finder | null = null;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'ingest-fcrash-'));
  stack = await startTestStack({
    consumers: (deps) => [createIngestProcessor(deps), createIngestProjection(deps)],
    env: { INGEST_PLUGIN: 'Registry', INGEST_FINDER_SOURCE: join(root, 'buffer'), INGEST_FINDER_STORAGE: join(root, 'storage'), INGEST_FINDER_STABLE_MS: '0', INGEST_FINDER_INTERVAL_MS: '100' },
  });
});

afterAll(async () => {
  if (child && child.exitCode === null) child.kill('SIGKILL');
  await finder?.stop();
  await stack?.stop();
  await rm(root, { recursive: true, force: true });
});

const content = (i: number) => `file ${i} ${'x'.repeat(i % 50)}\n`;
const rel = (i: number) => `d${i % 8}/f${i}.dat`;

describe('ingest finder: a crash while moving files', () => {
  it('loses and duplicates nothing after a SIGKILL mid-stream and a restart', { timeout: 240_000 }, async () => {
    await writeTree(join(root, 'buffer'), Object.fromEntries(Array.from({ length: N }, (_, i) => [rel(i), content(i)])));
    child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'test/fixtures/ingest/finder-child.ts')], { cwd: ROOT, env: stack.env as NodeJS.ProcessEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout!.on('data', (b) => { out += b; });
    child.stderr!.on('data', (b) => { out += b; });
    const exited = new Promise((r) => child!.once('exit', r));
    // kill once some files are through while others are in flight (watched on disk: the projection lags)
    const pendingDir = join(root, 'storage', '.dbb-finder', 'pending');
    const count = (dir: string) => readdir(dir).then((x) => x.length, () => 0);
    await eventually(async () => {
      expect(child!.exitCode, out.slice(-2000)).toBeNull();
      expect(await count(join(root, 'storage', 'd0'))).toBeGreaterThanOrEqual(3);
      expect(await count(pendingDir)).toBeGreaterThan(0);
    }, { timeoutMs: 120_000, intervalMs: 5 });
    child.kill('SIGKILL');
    await exited;
    // their intents are in the journal for the restarted finder to reconcile
    expect(await count(pendingDir)).toBeGreaterThan(0);

    finder = await createFinder({ appender: stack.appender, log: stack.platform.log }, finderOf(loadIngestConfig(stack.env)));
    finder.start();
    await eventually(async () => {
      const { rows } = await stack.db.query(`SELECT count(*)::int AS n FROM projection_ingest.files WHERE status = 'SUCCESS'`);
      expect(rows[0].n).toBe(N);
    }, { timeoutMs: 180_000, intervalMs: 500 });

    expect(await walk(join(root, 'buffer'))).toEqual([]);
    const stored = await walk(join(root, 'storage'));
    expect(stored.map((c) => c.rel).sort()).toEqual(Array.from({ length: N }, (_, i) => rel(i)).sort());
    for (let i = 0; i < N; i += 37) expect(await readFile(join(root, 'storage', rel(i)), 'utf8')).toBe(content(i));
    const moved = await stack.db.query(`SELECT file_id, count(*)::int AS n FROM projection_ingest.file_events WHERE event = 'FileMoved' GROUP BY file_id`);
    expect(moved.rows).toHaveLength(N);
    expect(moved.rows.every((r) => r.n === 1)).toBe(true);
    const ids = new Set(Array.from({ length: N }, (_, i) => fileIdOf(rel(i), createHash('sha256').update(content(i)).digest('hex'))));
    expect(new Set(moved.rows.map((r) => r.file_id))).toEqual(ids);
    const attempts = await stack.db.query(`SELECT max(attempts)::int AS a, count(*)::int AS n FROM projection_ingest.files`);
    expect(attempts.rows[0]).toEqual({ a: 1, n: N });
    expect(await readdir(join(root, 'storage', '.dbb-finder', 'pending'))).toEqual([]);
  });
});

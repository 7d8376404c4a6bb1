import { describe, expect, it } from 'vitest';
import { mkdtemp, writeFile, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runIngest, reconcileIngest } from './effects.ts';
import { createCommandPlugin } from './plugins/command.ts';
import { type IngestPlugin } from './plugins/index.ts';
import type { IngestEffect } from './rules.ts';
import { Limiter } from '../../platform/limiter.ts';

const effectFor = (path: string): IngestEffect => ({ kind: 'ingest', effectId: 'ingest:f1:1', fileId: 'f1', attempt: 1, plugin: 'Command', storagePath: path, relPath: 'a.dat', checksum: 'abc' });
const deps = (plugin: IngestPlugin, limit = 2) => ({ plugin, limiter: new Limiter(limit), now: () => performance.now() });

describe('ingest effects (command plugin on real files)', () => {
  it('runs the command with placeholders and reports SUCCESS', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ingest-eff-'));
    const file = join(dir, 'a.dat');
    await writeFile(file, 'x');
    const out = join(dir, 'out.txt');
    const plugin = createCommandPlugin({ command: 'sh', args: ['-c', `echo "$0 $1" > ${out}`, '{path}', '{fileId}'] });
    const r = await runIngest(effectFor(file), deps(plugin));
    expect(r.status).toBe('SUCCESS');
    expect((await readFile(out, 'utf8')).trim()).toBe(`${file} f1`);
  });

  it('reports FAILURE with stderr for a non-zero exit, for a missing file, and for a timeout', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ingest-eff-'));
    const file = join(dir, 'a.dat');
    await writeFile(file, 'x');
    const failing = createCommandPlugin({ command: 'sh', args: ['-c', 'echo broken >&2; exit 3'] });
    expect(await runIngest(effectFor(file), deps(failing))).toMatchObject({ status: 'FAILURE', error: expect.stringMatching(/code 3: broken/) });
    expect(await runIngest(effectFor(join(dir, 'missing')), deps(failing))).toMatchObject({ status: 'FAILURE', error: expect.stringMatching(/not in storage/) });
    const slow = createCommandPlugin({ command: 'sh', args: ['-c', 'sleep 30'], timeoutMs: 200 });
    expect(await runIngest(effectFor(file), deps(slow))).toMatchObject({ status: 'FAILURE', error: expect.stringMatching(/timed out after 200 ms/) });
  });

  it('keeps at most `limit` attempts running per plugin', async () => {
    let running = 0;
    let peak = 0;
    const plugin: IngestPlugin = { name: 'Fake', async ingest() { running++; peak = Math.max(peak, running); await new Promise((r) => setTimeout(r, 20)); running--; return { status: 'SUCCESS' }; } };
    const dir = await mkdtemp(join(tmpdir(), 'ingest-eff-'));
    await writeFile(join(dir, 'a.dat'), 'x');
    const d = deps(plugin, 2);
    await Promise.all(Array.from({ length: 6 }, () => runIngest(effectFor(join(dir, 'a.dat')), d)));
    expect(peak).toBe(2);
  });

  it('reconciles an interrupted attempt as UNKNOWN unless the plugin can tell', async () => {
    const cmd = createCommandPlugin({ command: 'true' });
    expect(await reconcileIngest(effectFor('/x'), deps(cmd))).toMatchObject({ status: 'UNKNOWN', error: expect.stringMatching(/unknown/) });
    const knows: IngestPlugin = { name: 'K', ingest: async () => ({ status: 'SUCCESS' }), reconcile: async () => ({ status: 'SUCCESS' }) };
    expect(await reconcileIngest(effectFor('/x'), deps(knows))).toMatchObject({ status: 'SUCCESS', details: { reconciled: true } });
  });
});

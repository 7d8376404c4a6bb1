import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { access, link, mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { quarantineFile, restoreFile } from './quarantine.ts';
import type { QuarantineEffect } from './rules.ts';

const gone = (p: string) => access(p).then(() => false, () => true);
const sha = (s: string) => createHash('sha256').update(s).digest('hex');

async function setup(content = 'DATA') {
  const root = await mkdtemp(join(tmpdir(), 'quarantine-'));
  const storagePath = join(root, 'storage', 'n1', 'a.fits');
  await mkdir(dirname(storagePath), { recursive: true });
  await writeFile(storagePath, content);
  const e: QuarantineEffect = {
    kind: 'quarantine', effectId: 'quarantine:f1:1', fileId: 'f1', attempt: 1, storagePath, relPath: 'n1/a.fits', checksum: sha(content), dir: join(root, 'q'),
    reason: { fileId: 'f1', relPath: 'n1/a.fits', checksum: sha(content), storagePath, error: 'boom', quarantinedAt: '2026-12-07T00:00:00.000Z', attempts: [] },
  };
  return { root, e, target: join(root, 'q', 'n1', 'a.fits') };
}

describe('quarantine effects (real files)', () => {
  it('moves the file and writes the reason beside it; run again, it finds its own result', async () => {
    const { e, target } = await setup();
    const r = await quarantineFile(e);
    expect(r).toEqual({ ok: true, quarantinePath: target, reasonPath: `${target}.reason.json` });
    expect(await gone(e.storagePath)).toBe(true);
    expect(await readFile(target, 'utf8')).toBe('DATA');
    expect(JSON.parse(await readFile(`${target}.reason.json`, 'utf8'))).toMatchObject({ error: 'boom', quarantinePath: target });
    expect(await quarantineFile(e)).toEqual(r);
  });

  it('after a crash between link and unlink, finishes the move', async () => {
    const { e, target } = await setup();
    await mkdir(dirname(target), { recursive: true });
    await link(e.storagePath, target);
    expect(await quarantineFile(e)).toMatchObject({ ok: true, quarantinePath: target });
    expect(await gone(e.storagePath)).toBe(true);
  });

  it('never overwrites a different file with the same name in quarantine', async () => {
    const { e, target } = await setup();
    await mkdir(dirname(target), { recursive: true });
    await writeFile(target, 'OTHER');
    expect(await quarantineFile(e)).toMatchObject({ ok: true, quarantinePath: `${target}.f1` });
    expect(await readFile(target, 'utf8')).toBe('OTHER');
    expect(await readFile(`${target}.f1`, 'utf8')).toBe('DATA');
  });

  it('reports a file that is in neither place', async () => {
    const { e } = await setup();
    expect(await quarantineFile({ ...e, storagePath: `${e.storagePath}.missing` })).toMatchObject({ ok: false, error: expect.stringMatching(/not in storage/) });
  });

  it('restores to the storage path and removes the reason; refuses to overwrite a new file there', async () => {
    const { e, target } = await setup();
    await quarantineFile(e);
    const restore = { kind: 'restore' as const, effectId: 'restore:f1:2', fileId: 'f1', quarantinePath: target, storagePath: e.storagePath };
    expect(await restoreFile(restore)).toEqual({ ok: true });
    expect(await readFile(e.storagePath, 'utf8')).toBe('DATA');
    expect(await gone(target)).toBe(true);
    expect(await gone(`${target}.reason.json`)).toBe(true);
    expect(await restoreFile(restore), 'run again').toEqual({ ok: true });
    await quarantineFile(e);
    await writeFile(e.storagePath, 'NEWER');
    expect(await restoreFile(restore)).toMatchObject({ ok: false, error: expect.stringMatching(/nothing was overwritten/) });
    expect(await readFile(e.storagePath, 'utf8')).toBe('NEWER');
    expect(await readFile(target, 'utf8')).toBe('DATA');
  });
});

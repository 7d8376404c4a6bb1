// Effects on real temp directories: copy, links, duplicates, conflicts, link refusals, reconciliation.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, mkdirSync, writeFileSync, readFileSync, statSync, lstatSync, symlinkSync, readdirSync, existsSync, readlinkSync, rmSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { checkDownload, hardLink, localCopy, localSymlink, reconcile, tempName, type EffectDeps, type StageEffect } from './effects.ts';
import type { StagingConfig } from '../../domains/staging/config.ts';
import { sameBytes } from './hash.ts';

let dir: string;
let deps: EffectDeps;
const eff = (over: Partial<StageEffect> = {}): StageEffect => ({ kind: 'local_copy', requestId: 'req-1', username: 'alice', source: ['obs', 'f.dat'], dest: ['proj', 'f.dat'], ...over });

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'staging-fx-'));
  mkdirSync(join(dir, 'storage', 'obs'), { recursive: true });
  mkdirSync(join(dir, 'users'));
  writeFileSync(join(dir, 'storage', 'obs', 'f.dat'), 'hello staging');
  const cfg: StagingConfig = {
    storageRoot: join(dir, 'storage'), userAreaTemplate: join(dir, 'users', '{username}', 'staging'), allowedMethods: ['local_copy'],
    jupyterUrlTemplate: 'http://127.0.0.1:1', jupyterToken: '', jupyterStartCommand: '', jupyterStartTimeoutMs: 1000, jupyterChunkBytes: 1024, replyTimeoutMs: 1000,
    maxActivePerUser: 0, notifySecret: '', notifyAllow: [], notifyAttempts: 1, notifyBackoffMs: 1, notifyTimeoutMs: 1000,
  };
  deps = { cfg, now: () => 42 };
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const dest = () => join(dir, 'users', 'alice', 'staging', 'proj', 'f.dat');

describe('staging effects', () => {
  it('copies into the user area, read-only, with no temp file left', async () => {
    const r = await localCopy(eff(), deps);
    expect(r).toMatchObject({ ok: true, skipped: false, sizeBytes: 13, destination: dest() });
    expect(readFileSync(dest(), 'utf8')).toBe('hello staging');
    expect(statSync(dest()).mode & 0o777).toBe(0o444);
    expect(readdirSync(join(dir, 'users', 'alice', 'staging', 'proj'))).toEqual(['f.dat']);
  });

  it('records the sha256 of the bytes copied, also for a skipped repeat', async () => {
    const want = createHash('sha256').update('hello staging').digest('hex');
    expect(await localCopy(eff(), deps)).toMatchObject({ ok: true, sha256: want });
    expect(await localCopy(eff({ requestId: 'req-2' }), deps)).toMatchObject({ ok: true, skipped: true, sha256: want });
  });

  it('refuses a copy that differs from the source when read back (CHECKSUM_MISMATCH) and leaves nothing behind', async () => {
    const r = await localCopy(eff(), { ...deps, sameCopy: async () => false });
    expect(r).toMatchObject({ ok: false, code: 'CHECKSUM_MISMATCH' });
    expect(readdirSync(join(dir, 'users', 'alice', 'staging', 'proj'))).toEqual([]);
  });

  it('refuses a copy whose source was rewritten before the read-back compare (CHECKSUM_MISMATCH), leaving nothing behind', async () => {
    const src = join(dir, 'storage', 'obs', 'f.dat');
    const rewriteThenCompare: EffectDeps['sameCopy'] = async (copy, source) => { writeFileSync(src, 'HELLO staging'); return sameBytes(copy, source); };
    expect(await localCopy(eff(), { ...deps, sameCopy: rewriteThenCompare })).toMatchObject({ ok: false, code: 'CHECKSUM_MISMATCH' });
    expect(readdirSync(join(dir, 'users', 'alice', 'staging', 'proj'))).toEqual([]);
  });

  it('skips an identical file and refuses to overwrite a different one', async () => {
    await localCopy(eff(), deps);
    expect(await localCopy(eff({ requestId: 'req-2' }), deps)).toMatchObject({ ok: true, skipped: true });
    chmodSync(dest(), 0o644);
    writeFileSync(dest(), 'other');
    expect(await localCopy(eff({ requestId: 'req-3' }), deps)).toMatchObject({ ok: false, code: 'DESTINATION_CONFLICT' });
    expect(readFileSync(dest(), 'utf8')).toBe('other');
  });

  it('refuses a source behind a symlink, even one pointing inside the root', async () => {
    symlinkSync('/etc', join(dir, 'storage', 'etc'));
    symlinkSync(join(dir, 'storage', 'obs', 'f.dat'), join(dir, 'storage', 'obs', 'alias'));
    expect(await localCopy(eff({ source: ['etc', 'passwd'] }), deps)).toMatchObject({ ok: false, code: 'SYMLINK_REFUSED' });
    expect(await localCopy(eff({ source: ['obs', 'alias'] }), deps)).toMatchObject({ ok: false, code: 'SYMLINK_REFUSED' });
    expect(existsSync(join(dir, 'users', 'alice'))).toBe(false);
  });

  it('refuses a destination directory that is a symlink out of the user area', async () => {
    mkdirSync(join(dir, 'users', 'alice', 'staging'), { recursive: true });
    mkdirSync(join(dir, 'elsewhere'));
    symlinkSync(join(dir, 'elsewhere'), join(dir, 'users', 'alice', 'staging', 'proj'));
    expect(await localCopy(eff(), deps)).toMatchObject({ ok: false, code: 'SYMLINK_REFUSED' });
    expect(readdirSync(join(dir, 'elsewhere'))).toEqual([]);
  });

  it('reports a missing source and a non-regular one', async () => {
    expect(await localCopy(eff({ source: ['obs', 'none'] }), deps)).toMatchObject({ ok: false, code: 'SOURCE_NOT_FOUND' });
    expect(await localCopy(eff({ source: ['obs'] }), deps)).toMatchObject({ ok: false, code: 'SOURCE_NOT_REGULAR' });
  });

  it('hard-links the source inode (symlink_copy) and skips a repeat', async () => {
    expect(await hardLink(eff({ kind: 'symlink_copy' }), deps)).toMatchObject({ ok: true, skipped: false });
    expect(statSync(dest()).ino).toBe(statSync(join(dir, 'storage', 'obs', 'f.dat')).ino);
    expect(statSync(dest()).mode & 0o222).toBe(0);
    expect(await hardLink(eff({ kind: 'symlink_copy', requestId: 'r2' }), deps)).toMatchObject({ ok: true, skipped: true });
  });

  it('symlinks to the checked source path (local_symlink)', async () => {
    expect(await localSymlink(eff({ kind: 'local_symlink' }), deps)).toMatchObject({ ok: true, skipped: false });
    expect(lstatSync(dest()).isSymbolicLink()).toBe(true);
    expect(readlinkSync(dest())).toBe(join(dir, 'storage', 'obs', 'f.dat'));
    expect(await localSymlink(eff({ kind: 'local_symlink', requestId: 'r2' }), deps)).toMatchObject({ ok: true, skipped: true });
  });

  it('checks a direct_download source without writing anything', async () => {
    expect(await checkDownload(eff({ kind: 'direct_download', dest: [] }), deps)).toMatchObject({ ok: true, destination: null, sizeBytes: 13 });
    expect(existsSync(join(dir, 'users', 'alice'))).toBe(false);
  });

  it('reconciles a crash mid-copy: removes the temp file and reports INTERRUPTED', async () => {
    mkdirSync(join(dir, 'users', 'alice', 'staging', 'proj'), { recursive: true });
    writeFileSync(join(dir, 'users', 'alice', 'staging', 'proj', tempName('req-1')), 'hel');
    expect(await reconcile(eff(), deps)).toMatchObject({ ok: false, code: 'INTERRUPTED' });
    expect(readdirSync(join(dir, 'users', 'alice', 'staging', 'proj'))).toEqual([]);
  });

  it('reconciles a crash after the copy finished: reports success', async () => {
    await localCopy(eff(), deps);
    expect(await reconcile(eff(), deps)).toMatchObject({ ok: true, reconciled: true, destination: dest() });
  });

  it('reconciles links: a finished link is success, a missing one INTERRUPTED', async () => {
    await hardLink(eff({ kind: 'symlink_copy' }), deps);
    expect(await reconcile(eff({ kind: 'symlink_copy' }), deps)).toMatchObject({ ok: true, reconciled: true });
    expect(await reconcile(eff({ kind: 'local_symlink', dest: ['proj', 'none.dat'] }), deps)).toMatchObject({ ok: false, code: 'INTERRUPTED' });
    await localSymlink(eff({ kind: 'local_symlink', dest: ['soft.dat'] }), deps);
    expect(await reconcile(eff({ kind: 'local_symlink', dest: ['soft.dat'] }), deps)).toMatchObject({ ok: true, reconciled: true });
  });

  it('never writes through a planted symlink at the final name', async () => {
    mkdirSync(join(dir, 'users', 'alice', 'staging', 'proj'), { recursive: true });
    writeFileSync(join(dir, 'victim'), 'keep');
    symlinkSync(join(dir, 'victim'), dest());
    for (const kind of ['local_copy', 'symlink_copy', 'local_symlink'] as const) {
      const fn = { local_copy: localCopy, symlink_copy: hardLink, local_symlink: localSymlink }[kind];
      expect(await fn(eff({ kind, requestId: `p-${kind}` }), deps)).toMatchObject({ ok: false, code: 'DESTINATION_CONFLICT' });
    }
    expect(readFileSync(join(dir, 'victim'), 'utf8')).toBe('keep');
  });
});

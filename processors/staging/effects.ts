// The staging side effects, one function per method, plus `reconcile` for an effect whose outcome
// is unknown after a crash. Each is idempotent (check before act, temp name then no-clobber link,
// deterministic temp names from the request id) and returns a result instead of throwing.
import { constants as C, promises as fsp } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { jupyterBaseUrl, userAreaParts, type Method, type StagingConfig } from '../../domains/staging/config.ts';
import { fdPath, lstatIn, openSource, openTrustedDir, StagingRefusal, walkDirs, type OpenedSource } from '../../platform/safe-fs.ts';
import { fastDownloadCheck, fastHardLink, fastSymlink } from './fast-links.ts';
import { sameBytes, sha256Of } from './hash.ts';
import { JupyterClient } from './jupyter.ts';
import type { EffectResult, StageEffect } from './rules.ts';

export type { EffectResult, StageEffect };

export interface EffectDeps {
  cfg: StagingConfig;
  now: () => number;
  fetch?: typeof fetch;
  /** how a written copy is compared with its source (tests make it differ here); default sameBytes */
  sameCopy?: (copy: FileHandle, source: FileHandle) => Promise<boolean>;
}

type Done = { sourcePath: string; destination: string | null; sizeBytes: number; skipped: boolean; sha256?: string | null };

/** Temp name in the destination directory, fixed per request so a restart finds (and removes) it. */
export const tempName = (requestId: string) => `.staging-${requestId}.part`;
const jupyterTempName = (requestId: string) => `staging-${requestId}.part`; // Jupyter refuses hidden names

export function userAreaPath(cfg: StagingConfig, username: string): string {
  const { base, components } = userAreaParts(cfg.userAreaTemplate, username);
  return [base.replace(/\/+$/, ''), ...components].join('/');
}

async function openDestDir(cfg: StagingConfig, e: StageEffect): Promise<FileHandle> {
  const { base, components } = userAreaParts(cfg.userAreaTemplate, e.username);
  let baseDir: FileHandle;
  try {
    baseDir = await openTrustedDir(base);
  } catch (err) {
    // the part of the template above {username} is the site's: its absence is a set-up problem the client is told about
    if (err instanceof StagingRefusal && err.code === 'NOT_FOUND') {
      throw new StagingRefusal('USER_AREA_NOT_FOUND', `user areas live under ${base}, which does not exist: create it, or set STAGING_USER_AREA_TEMPLATE`);
    }
    throw err;
  }
  return walkDirs(baseDir, [...components, ...e.dest.slice(0, -1)], { create: true, label: base.replace(/\/+$/, '') });
}

async function run(deps: EffectDeps, body: () => Promise<Done>, reconciled = false): Promise<EffectResult> {
  const startedAt = deps.now();
  try {
    const done = await body();
    return { ok: true, ...done, sha256: done.sha256 ?? null, reconciled, startedAt, finishedAt: deps.now() };
  } catch (err) {
    const code = err instanceof StagingRefusal ? err.code : 'IO_ERROR';
    return { ok: false, code, reason: (err as Error).message, startedAt, finishedAt: deps.now() };
  }
}

async function withSource<T>(cfg: StagingConfig, e: StageEffect, fn: (src: OpenedSource) => Promise<T>): Promise<T> {
  const src = await openSource(cfg.storageRoot, e.source);
  try {
    return await fn(src);
  } finally {
    await src.close();
  }
}

async function withDir<T>(dir: FileHandle, fn: (dir: FileHandle) => Promise<T>): Promise<T> {
  try {
    return await fn(dir);
  } finally {
    await dir.close().catch(() => {});
  }
}

/** An existing destination: identical to the source → skipped, anything else → conflict. */
async function existingCopy(dir: FileHandle, name: string, src: OpenedSource, shown: string): Promise<boolean> {
  const st = await lstatIn(dir, name);
  if (!st) return false;
  if (st.isFile()) {
    const fh = await fsp.open(fdPath(dir, name), C.O_RDONLY | C.O_NOFOLLOW | C.O_NONBLOCK);
    try {
      if (st.size === src.stat.size && (await sameBytes(fh, src.file))) return true;
    } finally {
      await fh.close();
    }
  }
  throw new StagingRefusal('DESTINATION_CONFLICT', `A different file already exists at ${shown}`);
}

async function removeIfPresent(path: string): Promise<void> {
  await fsp.unlink(path).catch((err) => { if (err.code !== 'ENOENT') throw err; });
}

/** Awaits every promise (none left running on a handle about to be closed), then throws the first failure. */
async function allSettled<T extends readonly unknown[]>(ps: { [K in keyof T]: Promise<T[K]> }): Promise<T> {
  const rs = await Promise.allSettled(ps);
  const failed = rs.find((r) => r.status === 'rejected');
  if (failed) throw (failed as PromiseRejectedResult).reason;
  return rs.map((r) => (r as PromiseFulfilledResult<unknown>).value) as unknown as T;
}

/** Checks the copy at `tmp`: its size, then byte for byte against the source (a worker thread) while another
 *  worker hashes it and it is fsynced (a difference: CHECKSUM_MISMATCH); read-only when it holds. Returns its sha256. */
async function verifyCopy(src: OpenedSource, tmp: string, deps: EffectDeps): Promise<string> {
  const out = await fsp.open(tmp, C.O_RDONLY | C.O_NOFOLLOW);
  try {
    const st = await out.stat();
    if (!st.isFile() || st.size !== src.stat.size) throw new StagingRefusal('COPY_INCOMPLETE', `copy of ${src.path} has ${st.size} of ${src.stat.size} bytes`);
    const [sha256, same] = await allSettled<[string, boolean, void]>([sha256Of(out), (deps.sameCopy ?? sameBytes)(out, src.file), out.sync()]);
    if (!same) throw new StagingRefusal('CHECKSUM_MISMATCH', `the copy of ${src.path} differs from the source when read back; the copy was removed`);
    await out.chmod(0o444);
    return sha256;
  } finally {
    await out.close();
  }
}

/** local_copy: the kernel copies the source to a temp name (a reflink where the filesystem can, as
 *  `cp --reflink=auto`, else copy_file_range: no bytes through JS), which is then verified (above) and
 *  linked to the final name (fails if it exists, unlike rename), and the temp name dropped. The sha256
 *  recorded is the copy's own, and the copy equals the source byte for byte. */
export async function localCopy(e: StageEffect, deps: EffectDeps): Promise<EffectResult> {
  return run(deps, () => withSource(deps.cfg, e, async (src) => withDir(await openDestDir(deps.cfg, e), async (dir) => {
    const name = e.dest[e.dest.length - 1]!;
    const shown = `${userAreaPath(deps.cfg, e.username)}/${e.dest.join('/')}`;
    const done = { sourcePath: src.path, destination: shown, sizeBytes: src.stat.size };
    if (await existingCopy(dir, name, src, shown)) return { ...done, skipped: true, sha256: await sha256Of(src.file) };
    const tmp = fdPath(dir, tempName(e.requestId));
    await removeIfPresent(tmp);
    let sha256: string;
    try {
      await fsp.copyFile(fdPath(src.file), tmp, C.COPYFILE_EXCL | C.COPYFILE_FICLONE);
      sha256 = await verifyCopy(src, tmp, deps);
    } catch (err) {
      await removeIfPresent(tmp);
      throw err;
    }
    try {
      await fsp.link(tmp, fdPath(dir, name));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      await removeIfPresent(tmp);
      if (await existingCopy(dir, name, src, shown)) return { ...done, skipped: true, sha256 };
    }
    await removeIfPresent(tmp);
    return { ...done, skipped: false, sha256 };
  })));
}

/** symlink_copy (the seed's name): a hard link to the source inode, checked to be the opened file.
 *  The common case (a new link) runs synchronously in fast-links.ts; this is the general path. */
export async function hardLink(e: StageEffect, deps: EffectDeps): Promise<EffectResult> {
  return run(deps, async () => fastHardLink(deps.cfg, e) ?? withSource(deps.cfg, e, async (src) => withDir(await openDestDir(deps.cfg, e), async (dir) => {
    const name = e.dest[e.dest.length - 1]!;
    const shown = `${userAreaPath(deps.cfg, e.username)}/${e.dest.join('/')}`;
    const done = { sourcePath: src.path, destination: shown, sizeBytes: src.stat.size };
    const sameInode = (st: { ino: number; dev: number } | null) => !!st && st.ino === src.stat.ino && st.dev === src.stat.dev;
    const before = await lstatIn(dir, name);
    if (sameInode(before)) return { ...done, skipped: true };
    if (before && (await existingCopy(dir, name, src, shown))) return { ...done, skipped: true };
    try {
      // link(2) does not follow a final symlink, and the walk to src.dir followed none.
      await fsp.link(fdPath(src.dir, src.name), fdPath(dir, name));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EXDEV') throw new StagingRefusal('CROSS_DEVICE', 'a hard link needs source and user area on one filesystem; use local_copy');
      if (code !== 'EEXIST') throw err;
      if (sameInode(await lstatIn(dir, name)) || (await existingCopy(dir, name, src, shown))) return { ...done, skipped: true };
    }
    if (!sameInode(await lstatIn(dir, name))) {
      await removeIfPresent(fdPath(dir, name));
      throw new StagingRefusal('SOURCE_CHANGED', `${src.path} was replaced while it was being linked`);
    }
    // The link shares the inode: read-only for the user means read-only for the source too.
    if (src.stat.mode & 0o222) await src.file.chmod(src.stat.mode & 0o7555);
    return { ...done, skipped: false };
  })));
}

/** local_symlink: a symbolic link to the checked source path. */
export async function localSymlink(e: StageEffect, deps: EffectDeps): Promise<EffectResult> {
  return run(deps, async () => fastSymlink(deps.cfg, e) ?? withSource(deps.cfg, e, async (src) => withDir(await openDestDir(deps.cfg, e), async (dir) => {
    const name = e.dest[e.dest.length - 1]!;
    const shown = `${userAreaPath(deps.cfg, e.username)}/${e.dest.join('/')}`;
    const done = { sourcePath: src.path, destination: shown, sizeBytes: src.stat.size };
    const pointsHere = async () => (await fsp.readlink(fdPath(dir, name)).catch(() => null)) === src.path;
    const before = await lstatIn(dir, name);
    if (before?.isSymbolicLink() && (await pointsHere())) return { ...done, skipped: true };
    if (before && (await existingCopy(dir, name, src, shown))) return { ...done, skipped: true };
    try {
      await fsp.symlink(src.path, fdPath(dir, name));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      if (await pointsHere()) return { ...done, skipped: true };
      throw new StagingRefusal('DESTINATION_CONFLICT', `Something else already exists at ${shown}`);
    }
    return { ...done, skipped: false };
  })));
}

/** direct_download: nothing is written; the source is checked so the gateway can stream it. */
export async function checkDownload(e: StageEffect, deps: EffectDeps): Promise<EffectResult> {
  return run(deps, async () => fastDownloadCheck(deps.cfg, e) ?? withSource(deps.cfg, e, async (src) => ({ sourcePath: src.path, destination: null, sizeBytes: src.stat.size, skipped: false })));
}

function jupyterClient(e: StageEffect, deps: EffectDeps): JupyterClient {
  return new JupyterClient(jupyterBaseUrl(deps.cfg, e.username), deps.cfg.jupyterToken, deps.fetch ?? fetch);
}

/** Starts the user's server with the configured command when it does not answer, then waits for it. */
async function ensureJupyter(client: JupyterClient, e: StageEffect, deps: EffectDeps): Promise<void> {
  if (await client.isUp()) return;
  const cmd = deps.cfg.jupyterStartCommand;
  if (!cmd) throw new StagingRefusal('JUPYTER_UNAVAILABLE', `Jupyter server of ${e.username} is not running and no start command is configured`);
  const quoted = `'${e.username.replaceAll("'", "'\\''")}'`;
  spawn('/bin/sh', ['-c', cmd.replaceAll('{username}', quoted)], { detached: true, stdio: 'ignore' }).unref();
  const deadline = Date.now() + deps.cfg.jupyterStartTimeoutMs;
  while (Date.now() < deadline) {
    if (await client.isUp()) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new StagingRefusal('JUPYTER_UNAVAILABLE', `Jupyter server of ${e.username} did not start within ${deps.cfg.jupyterStartTimeoutMs} ms`);
}

/** Up to this size a Jupyter file is compared byte for byte (the contents API has no ranges, so the
 *  whole file is downloaded); above it an equal size counts as identical. */
export const JUPYTER_COMPARE_MAX = 64 * 1024 * 1024; // bytes

const sameRemote = (client: JupyterClient, path: string[], src: OpenedSource) =>
  src.stat.size > JUPYTER_COMPARE_MAX ? Promise.resolve(true) : client.sameContent(path, src.file, src.stat.size);

/** Uploads at once per process: each holds a chunk buffer and its base64 text in memory. */
const JUPYTER_UPLOADS = 4;
let uploading = 0;
const waiting: (() => void)[] = [];
async function uploadSlot<T>(fn: () => Promise<T>): Promise<T> {
  while (uploading >= JUPYTER_UPLOADS) await new Promise<void>((r) => waiting.push(r));
  uploading++;
  try {
    return await fn();
  } finally {
    uploading--;
    waiting.shift()?.();
  }
}

/** jupyter_copy: upload through the Jupyter Server contents API in chunks to a temp name (hashing what is
 *  sent), read the temp back and compare its sha256 (a mismatch removes it: CHECKSUM_MISMATCH), then rename. */
export async function jupyterCopy(e: StageEffect, deps: EffectDeps): Promise<EffectResult> {
  return run(deps, () => uploadSlot(() => withSource(deps.cfg, e, async (src) => {
    const client = jupyterClient(e, deps);
    await ensureJupyter(client, e, deps);
    const dirs = e.dest.slice(0, -1);
    for (let i = 1; i <= dirs.length; i++) await client.ensureDirectory(dirs.slice(0, i));
    const final = e.dest;
    const tmp = [...dirs, jupyterTempName(e.requestId)];
    const done = { sourcePath: src.path, destination: final.join('/'), sizeBytes: src.stat.size };
    const identical = async () => {
      const m = await client.stat(final);
      if (!m) return false;
      if (m.type === 'file' && m.size === src.stat.size && (await sameRemote(client, final, src))) return true;
      throw new StagingRefusal('DESTINATION_CONFLICT', `A different file already exists at ${final.join('/')} in the Jupyter server`);
    };
    if (await identical()) return { ...done, skipped: true, sha256: await sha256Of(src.file) };
    await client.remove(tmp);
    const sent = await client.upload(tmp, src.file, src.stat.size, deps.cfg.jupyterChunkBytes);
    // what the server stored, read back through the contents API, before it gets the final name
    const stored = createHash('sha256').update(await client.read(tmp)).digest('hex');
    if (stored !== sent) {
      await client.remove(tmp);
      throw new StagingRefusal('CHECKSUM_MISMATCH', `the upload of ${src.path} to the Jupyter server has sha256 ${stored}, the bytes sent ${sent}; the copy was removed`);
    }
    if (!(await client.rename(tmp, final))) {
      await client.remove(tmp);
      if (await identical()) return { ...done, skipped: true, sha256: sent };
    }
    return { ...done, skipped: false, sha256: sent };
  })));
}

/** Methods whose effect is one check-then-act syscall that finds its own earlier outcome (an existing
 *  link to the same inode / target counts as done), or only reads: safe to repeat after a crash, so
 *  they skip the effect ledger. Copies and uploads keep it (UNKNOWN → reconcile). */
export const REPEATABLE: ReadonlySet<Method> = new Set(['symlink_copy', 'local_symlink', 'direct_download']);

export const EFFECTS: Record<Method, (e: StageEffect, deps: EffectDeps) => Promise<EffectResult>> = {
  local_copy: localCopy,
  symlink_copy: hardLink,
  local_symlink: localSymlink,
  direct_download: checkDownload,
  jupyter_copy: jupyterCopy,
};

/** After a crash mid-effect: drop the temp name and report what the destination shows, never redo. */
export async function reconcile(e: StageEffect, deps: EffectDeps): Promise<EffectResult> {
  const interrupted = () => new StagingRefusal('INTERRUPTED', `the processor stopped during ${e.kind}; nothing is left under the final name (request ${e.requestId})`);
  if (e.kind === 'direct_download') return checkDownload(e, deps);
  return run(deps, () => withSource(deps.cfg, e, async (src) => {
    const name = e.dest[e.dest.length - 1]!;
    if (e.kind === 'jupyter_copy') {
      const client = jupyterClient(e, deps);
      await ensureJupyter(client, e, deps);
      await client.remove([...e.dest.slice(0, -1), jupyterTempName(e.requestId)]);
      const m = await client.stat(e.dest);
      if (m?.type === 'file' && m.size === src.stat.size && (await sameRemote(client, e.dest, src))) {
        return { sourcePath: src.path, destination: e.dest.join('/'), sizeBytes: src.stat.size, skipped: false, sha256: await sha256Of(src.file) };
      }
      throw interrupted();
    }
    return withDir(await openDestDir(deps.cfg, e), async (dir) => {
      const shown = `${userAreaPath(deps.cfg, e.username)}/${e.dest.join('/')}`;
      const done = { sourcePath: src.path, destination: shown, sizeBytes: src.stat.size, skipped: false };
      await removeIfPresent(fdPath(dir, tempName(e.requestId)));
      const st = await lstatIn(dir, name);
      if (!st) throw interrupted();
      if (e.kind === 'local_symlink') {
        if (st.isSymbolicLink() && (await fsp.readlink(fdPath(dir, name))) === src.path) return done;
        throw interrupted();
      }
      if (e.kind === 'symlink_copy' && st.ino === src.stat.ino && st.dev === src.stat.dev) return done;
      // the copy equals the source byte for byte: the source's hash is the copy's
      if (await existingCopy(dir, name, src, shown)) return e.kind === 'local_copy' ? { ...done, sha256: await sha256Of(src.file) } : done;
      throw interrupted();
    });
  }), true);
}

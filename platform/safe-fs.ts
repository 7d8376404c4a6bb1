// Link-safe path resolution without openat2: every directory is opened with O_DIRECTORY|O_NOFOLLOW
// and the walk continues through /proc/self/fd/<fd>/<next>, so a symlink anywhere below a trusted
// base (or a directory swapped for one mid-walk) is refused instead of followed.
import { constants as C, promises as fsp, type Stats } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import type { StagingRefusalCode } from './problems.ts';

/** A refusal with a stable code; effects turn it into a StagingFailed. */
export class StagingRefusal extends Error {
  constructor(readonly code: StagingRefusalCode, message: string) {
    super(message);
    this.name = 'StagingRefusal';
  }
}

export const fdPath = (fh: FileHandle, name?: string) => (name === undefined ? `/proc/self/fd/${fh.fd}` : `/proc/self/fd/${fh.fd}/${name}`);

const DIR_FLAGS = C.O_RDONLY | C.O_DIRECTORY | C.O_NOFOLLOW;

function refusal(err: unknown, what: string): StagingRefusal {
  const code = (err as NodeJS.ErrnoException).code;
  switch (code) {
    case 'ELOOP': return new StagingRefusal('SYMLINK_REFUSED', `${what} is a symbolic link; links are not followed`);
    case 'ENOTDIR': return new StagingRefusal('NOT_A_DIRECTORY', `${what} is not a directory`);
    case 'ENOENT': return new StagingRefusal('NOT_FOUND', `${what} does not exist`);
    case 'EACCES': case 'EPERM': return new StagingRefusal('PERMISSION_DENIED', `${what}: permission denied`);
    case 'ENAMETOOLONG': return new StagingRefusal('NAME_TOO_LONG', `${what}: name too long`);
    default: return new StagingRefusal('IO_ERROR', `${what}: ${(err as Error).message}`);
  }
}

/** Opens a trusted absolute directory (from config; may contain links). */
export async function openTrustedDir(path: string): Promise<FileHandle> {
  try {
    return await fsp.open(path, C.O_RDONLY | C.O_DIRECTORY);
  } catch (err) {
    throw refusal(err, path);
  }
}

/** Walks `components` below `base` (which it closes), creating missing directories when `create`;
 *  returns the last directory's handle. `label` prefixes messages (e.g. the base path). */
export async function walkDirs(base: FileHandle, components: string[], opts: { create: boolean; label: string; mode?: number }): Promise<FileHandle> {
  let dir = base;
  let shown = opts.label;
  try {
    for (const c of components) {
      shown = `${shown}/${c}`;
      let next: FileHandle;
      try {
        next = await openDirOrCreate(dir, c, opts.create, opts.mode ?? 0o755);
      } catch (err) {
        // O_DIRECTORY|O_NOFOLLOW on a symlink gives ENOTDIR, not ELOOP: tell the two apart
        const isLink = await fsp.lstat(fdPath(dir, c)).then((st) => st.isSymbolicLink(), () => false);
        throw isLink ? refusal(Object.assign(new Error('link'), { code: 'ELOOP' }), shown) : refusal(err, shown);
      }
      await dir.close();
      dir = next;
    }
    return dir;
  } catch (err) {
    await dir.close().catch(() => {});
    throw err;
  }
}

/** Opens `name` in `dir` as a directory without following links; creates it first only when it is
 *  missing (the common case, an existing directory, costs one open). */
async function openDirOrCreate(dir: FileHandle, name: string, create: boolean, mode: number): Promise<FileHandle> {
  try {
    return await fsp.open(fdPath(dir, name), DIR_FLAGS);
  } catch (err) {
    if (!create || (err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  try {
    await fsp.mkdir(fdPath(dir, name), mode);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err; // created meanwhile: open it below
  }
  return fsp.open(fdPath(dir, name), DIR_FLAGS);
}

export interface OpenedSource {
  dir: FileHandle;
  file: FileHandle;
  name: string;
  stat: Stats;
  /** The source's path (root + components), for events and symlink targets. */
  path: string;
  close(): Promise<void>;
}

/** Opens a source file below the storage root: no links on the way, a regular file at the end. */
export async function openSource(root: string, components: string[]): Promise<OpenedSource> {
  const dirs = components.slice(0, -1);
  const name = components[components.length - 1]!;
  const path = [root.replace(/\/+$/, ''), ...components].join('/');
  let dir: FileHandle;
  try {
    dir = await walkDirs(await openTrustedDir(root), dirs, { create: false, label: root.replace(/\/+$/, '') });
  } catch (err) {
    if (err instanceof StagingRefusal && err.code === 'NOT_FOUND') throw new StagingRefusal('SOURCE_NOT_FOUND', `Source path does not exist: ${path}`);
    throw err;
  }
  let file: FileHandle;
  try {
    file = await fsp.open(fdPath(dir, name), C.O_RDONLY | C.O_NOFOLLOW | C.O_NONBLOCK);
  } catch (err) {
    await dir.close();
    const r = refusal(err, path);
    throw r.code === 'NOT_FOUND' ? new StagingRefusal('SOURCE_NOT_FOUND', `Source path does not exist: ${path}`) : r;
  }
  const stat = await file.stat();
  if (!stat.isFile()) {
    await file.close();
    await dir.close();
    throw new StagingRefusal('SOURCE_NOT_REGULAR', `Source is not a regular file: ${path}`);
  }
  return { dir, file, name, stat, path, close: async () => { await file.close().catch(() => {}); await dir.close().catch(() => {}); } };
}

/** lstat of `name` in `dir` (never follows a final link); null when absent. */
export async function lstatIn(dir: FileHandle, name: string): Promise<Stats | null> {
  try {
    return await fsp.lstat(fdPath(dir, name));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw refusal(err, name);
  }
}

// The common case of the metadata-only staging methods (hard link, symlink, download check) done with
// synchronous syscalls: the same link-safe walk as platform/safe-fs.ts (every directory opened
// O_DIRECTORY|O_NOFOLLOW, the walk continuing through /proc/self/fd/<fd>/<next>, the source opened
// O_NOFOLLOW and checked to be a regular file), but each step is one syscall of a few µs on the
// processor's thread instead of a libuv threadpool round trip. A hard link request is ~15 such
// steps; as async calls each one is a thread hand-off plus an event-loop wake-up, which on a loaded
// machine costs milliseconds (docs/benchmarks.md, staging findings). Anything off the common path
// (the destination exists, a refusal, an unexpected errno) returns null *before anything was done*,
// and the caller runs the general async implementation in effects.ts, which gives the same outcomes
// and messages as before. Local filesystems only in spirit: on a slow network filesystem a
// synchronous stat blocks the loop for its duration (the whole effect is a handful of them).
import { closeSync, constants as C, fchmodSync, fstatSync, linkSync, lstatSync, mkdirSync, openSync, symlinkSync, unlinkSync, type Stats } from 'node:fs';
import { userAreaParts, type StagingConfig } from '../../domains/staging/config.ts';
import { StagingRefusal } from '../../platform/safe-fs.ts';
import type { StageEffect } from './rules.ts';

const DIR_FLAGS = C.O_RDONLY | C.O_DIRECTORY | C.O_NOFOLLOW;
const at = (fd: number, name: string) => `/proc/self/fd/${fd}/${name}`;

/** The general path decides (a refusal, an existing destination, anything unusual). */
class Fallback extends Error {}

const closeQuietly = (fd: number) => { try { closeSync(fd); } catch { /* already closed */ } };

/** Opens `base` (trusted, may contain links) and walks `components` below it without following any
 *  link, creating missing directories when `create`; returns the last directory's fd. */
function walk(base: string, components: string[], create: boolean): number {
  let fd: number;
  try { fd = openSync(base, C.O_RDONLY | C.O_DIRECTORY); } catch { throw new Fallback(); }
  try {
    for (const c of components) {
      let next: number;
      try {
        next = openSync(at(fd, c), DIR_FLAGS);
      } catch (err) {
        if (!create || (err as NodeJS.ErrnoException).code !== 'ENOENT') throw new Fallback();
        try { mkdirSync(at(fd, c), 0o755); } catch (e) { if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new Fallback(); }
        try { next = openSync(at(fd, c), DIR_FLAGS); } catch { throw new Fallback(); }
      }
      closeSync(fd);
      fd = next;
    }
    return fd;
  } catch (err) {
    closeQuietly(fd);
    throw err;
  }
}

interface Src { dir: number; file: number; name: string; stat: Stats; path: string }

function openSrc(root: string, components: string[]): Src {
  const name = components[components.length - 1]!;
  const dir = walk(root, components.slice(0, -1), false);
  let file: number;
  try { file = openSync(at(dir, name), C.O_RDONLY | C.O_NOFOLLOW | C.O_NONBLOCK); } catch { closeQuietly(dir); throw new Fallback(); }
  const stat = fstatSync(file);
  if (!stat.isFile()) { closeQuietly(file); closeQuietly(dir); throw new Fallback(); }
  return { dir, file, name, stat, path: [root.replace(/\/+$/, ''), ...components].join('/') };
}

function lstatAt(dir: number, name: string): Stats | null {
  try { return lstatSync(at(dir, name)); } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new Fallback();
  }
}

type Done = { sourcePath: string; destination: string | null; sizeBytes: number; skipped: boolean };

/** Runs `act` with the opened source and destination directory; null when the general path must decide. */
function withBoth(cfg: StagingConfig, e: StageEffect, act: (src: Src, dir: number, name: string, done: Done) => Done | null): Done | null {
  let src: Src | null = null;
  let dir = -1;
  try {
    src = openSrc(cfg.storageRoot, e.source);
    const { base, components } = userAreaParts(cfg.userAreaTemplate, e.username);
    dir = walk(base, [...components, ...e.dest.slice(0, -1)], true);
    const name = e.dest[e.dest.length - 1]!;
    const shown = `${[base.replace(/\/+$/, ''), ...components].join('/')}/${e.dest.join('/')}`;
    return act(src, dir, name, { sourcePath: src.path, destination: shown, sizeBytes: src.stat.size, skipped: false });
  } catch (err) {
    if (err instanceof Fallback) return null;
    throw err;
  } finally {
    if (dir >= 0) closeQuietly(dir);
    if (src) { closeQuietly(src.file); closeQuietly(src.dir); }
  }
}

/** symlink_copy: a new hard link to the opened source inode, verified after the link. */
export function fastHardLink(cfg: StagingConfig, e: StageEffect): Done | null {
  return withBoth(cfg, e, (src, dir, name, done) => {
    if (lstatAt(dir, name)) return null; // already there (ours from before a crash, or a conflict)
    try { linkSync(at(src.dir, src.name), at(dir, name)); } catch { return null; } // EEXIST race, EXDEV, ...: nothing was done
    const st = lstatAt(dir, name);
    if (!st || st.ino !== src.stat.ino || st.dev !== src.stat.dev) {
      try { unlinkSync(at(dir, name)); } catch { /* gone already */ }
      throw new StagingRefusal('SOURCE_CHANGED', `${src.path} was replaced while it was being linked`);
    }
    // the link shares the inode: read-only for the user means read-only for the source too
    if (src.stat.mode & 0o222) fchmodSync(src.file, src.stat.mode & 0o7555);
    return done;
  });
}

/** local_symlink: a new symbolic link to the checked source path. */
export function fastSymlink(cfg: StagingConfig, e: StageEffect): Done | null {
  return withBoth(cfg, e, (src, dir, name, done) => {
    if (lstatAt(dir, name)) return null;
    try { symlinkSync(src.path, at(dir, name)); } catch { return null; }
    return done;
  });
}

/** direct_download: the source opens link-safely and is a regular file. */
export function fastDownloadCheck(cfg: StagingConfig, e: StageEffect): Done | null {
  try {
    const src = openSrc(cfg.storageRoot, e.source);
    closeQuietly(src.file);
    closeQuietly(src.dir);
    return { sourcePath: src.path, destination: null, sizeBytes: src.stat.size, skipped: false };
  } catch (err) {
    if (err instanceof Fallback) return null;
    throw err;
  }
}

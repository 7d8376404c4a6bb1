// Filesystem building blocks of the finder: walking the source and completeness checks; hashing and the
// move that never overwrites are in domains/ingest/files.ts (the processor's quarantine uses them too).
import { statSync } from 'node:fs';
import { readdir, readlink } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';

export interface Candidate { rel: string; path: string; size: number; mtimeMs: number; ino: number }

export const toRel = (root: string, path: string) => relative(root, path).split(sep).join('/');

/** Regular files under `root`; dot-files and dot-directories (temp files of writers, our journal) are
 *  skipped. `dirs` collects the directories visited (the finder watches each of them). */
export async function walk(root: string, exclude: RegExp[] = [], dirs?: Set<string>): Promise<Candidate[]> {
  const out: Candidate[] = [];
  async function visit(dir: string) {
    dirs?.add(dir);
    let entries;
    try { entries = await readdir(dir, { withFileTypes: true }); } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    await Promise.all(entries.map(async (e) => {
      if (e.name.startsWith('.')) return;
      const path = join(dir, e.name);
      const rel = toRel(root, path);
      if (exclude.some((r) => r.test(rel))) return;
      if (e.isDirectory()) return visit(path);
      if (!e.isFile()) return;
      let st = null;
      try { st = statSync(path); } catch { /* gone meanwhile */ }
      if (st?.isFile()) out.push({ rel, path, size: st.size, mtimeMs: st.mtimeMs, ino: st.ino });
    }));
  }
  await visit(root);
  return out.sort((a, b) => (a.rel < b.rel ? -1 : 1));
}

/** Paths some process has open (Linux /proc/<pid>/fd); null where /proc is not available. */
export async function openFiles(): Promise<Set<string> | null> {
  let pids: string[];
  try { pids = (await readdir('/proc')).filter((p) => /^\d+$/.test(p)); } catch { return null; }
  const open = new Set<string>();
  await Promise.all(pids.map(async (pid) => {
    const fds = await readdir(`/proc/${pid}/fd`).catch(() => [] as string[]);
    await Promise.all(fds.map(async (fd) => {
      const target = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => null);
      if (target?.startsWith('/')) open.add(target);
    }));
  }));
  return open;
}


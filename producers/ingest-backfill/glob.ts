// Backfill sources: files, directories or unix-style patterns (* ? [...] per path segment, ** any depth)
// relative to the storage area (seed "Backfill database records"; no tilde expansion).
import { readdir, stat } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { walk, type Candidate } from '../ingest-finder/fsops.ts';

export function segmentRegex(seg: string): RegExp {
  let re = '';
  for (let i = 0; i < seg.length; i++) {
    const c = seg[i];
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const end = seg.indexOf(']', i + 2);
      if (end < 0) { re += '\\['; continue; }
      let cls = seg.slice(i + 1, end);
      if (cls.startsWith('!')) cls = '^' + cls.slice(1);
      re += `[${cls.replace(/\\/g, '\\\\')}]`;
      i = end;
    } else re += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

const hasMagic = (s: string) => /[*?[]/.test(s);

/** Existing paths (relative to root, '/'-separated) matching the pattern's segments. */
async function expand(root: string, segs: string[], base = ''): Promise<string[]> {
  if (!segs.length) return [base];
  const [seg, ...rest] = segs;
  if (seg === '**') {
    const here = await expand(root, rest, base);
    const entries = await readdir(join(root, base), { withFileTypes: true }).catch(() => []);
    const deeper = await Promise.all(entries.filter((e) => e.isDirectory() && !e.name.startsWith('.')).map((e) => expand(root, segs, base ? `${base}/${e.name}` : e.name)));
    return [...here, ...deeper.flat()];
  }
  if (!hasMagic(seg)) return expand(root, rest, base ? `${base}/${seg}` : seg);
  const re = segmentRegex(seg);
  const entries = await readdir(join(root, base), { withFileTypes: true }).catch(() => []);
  const out = await Promise.all(entries.filter((e) => re.test(e.name) && (!e.name.startsWith('.') || seg.startsWith('.'))).map((e) => expand(root, rest, base ? `${base}/${e.name}` : e.name)));
  return out.flat();
}

export class SourceError extends Error {}

/** Every regular file named by the sources (directories recursively), each once, sorted by path. */
export async function expandSources(storage: string, sources: string[]): Promise<Candidate[]> {
  const byRel = new Map<string, Candidate>();
  for (const src of sources) {
    if (isAbsolute(src) || src.split('/').includes('..')) throw new SourceError(`backfill source ${JSON.stringify(src)} must be relative to the storage area`);
    if (src.startsWith('~')) throw new SourceError(`backfill source ${JSON.stringify(src)}: tilde expansion is not supported`);
    const matches = await expand(storage, src.split('/').filter((s) => s && s !== '.'));
    for (const rel of matches) {
      const path = join(storage, rel);
      const st = await stat(path).catch(() => null);
      if (!st) continue;
      if (st.isDirectory()) {
        for (const c of await walk(path)) {
          const r = rel ? `${rel}/${c.rel}` : c.rel;
          byRel.set(r, { ...c, rel: r });
        }
      } else if (st.isFile()) byRel.set(rel, { rel, path, size: st.size, mtimeMs: st.mtimeMs, ino: st.ino });
    }
  }
  return [...byRel.values()].sort((a, b) => (a.rel < b.rel ? -1 : 1));
}

// Files of the ingest domain, shared by the finder (storage moves) and the processor (quarantine):
// hashing, existence without following links, and a move that never overwrites (hard link + unlink;
// copy to a temp name + link across filesystems).
import { createHash, randomUUID } from 'node:crypto';
import { createReadStream, linkSync, lstatSync, mkdirSync, readFileSync, unlinkSync } from 'node:fs';
import { copyFile, link, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

// Per file the finder makes a dozen small syscalls (stat, link, unlink, journal writes, reading a small
// file). As async calls each is a libuv threadpool round trip plus an event-loop wake-up, which on a
// loaded machine costs far more than the syscall (µs): the finder makes them synchronously. It is a
// process of its own (`dbb ingest finder`) with nothing else on its loop; only large files are read
// asynchronously (streamed), so one big file does not stall the others.
const SMALL = 1 << 20; // bytes: files up to this size are hashed from one synchronous read

export async function sha256File(path: string, sizeHint?: number): Promise<string> {
  if (sizeHint !== undefined && sizeHint <= SMALL) return createHash('sha256').update(readFileSync(path)).digest('hex');
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    // 256 KiB reads: many large files may be in flight at once (finder.concurrency)
    createReadStream(path, { highWaterMark: 256 << 10 }).on('error', reject).on('data', (d) => h.update(d)).on('end', () => resolve(h.digest('hex')));
  });
}

export async function exists(path: string): Promise<{ size: number; ino: number; mtimeMs: number; isFile: boolean } | null> {
  let st;
  try { st = lstatSync(path); } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return null;
    throw err;
  }
  return { size: st.size, ino: st.ino, mtimeMs: st.mtimeMs, isFile: st.isFile() };
}

export class DestinationExists extends Error {
  constructor(readonly dest: string) { super(`${dest} already exists`); }
}

/** Moves src to dest, failing with DestinationExists instead of overwriting. A crash leaves either src
 *  only, src + dest (identical), or dest only; a leftover temp file is a dot-file next to dest. */
export async function moveNoOverwrite(src: string, dest: string, madeDirs?: Set<string>): Promise<void> {
  const dir = dirname(dest);
  if (!madeDirs?.has(dir)) {
    mkdirSync(dir, { recursive: true });
    madeDirs?.add(dir);
  }
  try {
    linkSync(src, dest);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw new DestinationExists(dest);
    if (code !== 'EXDEV' && code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EMLINK') throw err;
    const tmp = tempPathFor(dest);
    await copyFile(src, tmp);
    try {
      await link(tmp, dest);
    } catch (e) {
      const c = (e as NodeJS.ErrnoException).code;
      if (c === 'EEXIST') { await unlink(tmp).catch(() => {}); throw new DestinationExists(dest); }
      if (await exists(dest)) { await unlink(tmp).catch(() => {}); throw new DestinationExists(dest); }
      await rename(tmp, dest); // filesystem without hard links: small window, checked just above
    }
    await unlink(tmp).catch(() => {});
  }
  unlinkSync(src);
}

export const tempPathFor = (dest: string) => join(dirname(dest), `.${basename(dest)}.dbb-tmp-${randomUUID().slice(0, 8)}`);

// The quarantine effects: a failed file leaves storage for the quarantine directory (relative path kept,
// `<name>.reason.json` beside it), and a rerun brings it back. Both are safe to repeat after a crash at
// any point: they look at both places first (hard link + unlink, never overwriting; the reason file via
// temp + rename), so they run without ledger marks.
import { rename, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DestinationExists, exists, moveNoOverwrite, sha256File, tempPathFor } from '../../domains/ingest/files.ts';
import type { QuarantineEffect, QuarantineResult, RestoreEffect, RestoreResult } from './rules.ts';

export const reasonPathOf = (quarantinePath: string) => `${quarantinePath}.reason.json`;

/** Whether `path` holds this file: the same inode as its storage copy, or its content. */
async function holds(path: string, e: QuarantineEffect, src: Awaited<ReturnType<typeof exists>>): Promise<boolean> {
  const there = await exists(path);
  if (!there?.isFile) return false;
  if (src && src.ino === there.ino) return true;
  return (await sha256File(path, there.size)) === e.checksum;
}

/** Moves the file into quarantine: `<dir>/<relPath>`, or `<dir>/<relPath>.<fileId>` when a different file
 *  already has that name there (a same-name file quarantined earlier). */
export async function quarantineFile(e: QuarantineEffect): Promise<QuarantineResult> {
  try {
    const base = join(e.dir, ...e.relPath.split('/'));
    const src = await exists(e.storagePath);
    let target: string | null = null;
    for (const candidate of [base, `${base}.${e.fileId}`]) {
      if (await holds(candidate, e, src)) { target = candidate; break; } // moved before (a crash after link, or after the move)
      if (await exists(candidate)) continue; // someone else's file: never overwritten
      if (!src) return { ok: false, error: `${e.storagePath} is not in storage` };
      try {
        await moveNoOverwrite(e.storagePath, candidate);
      } catch (err) {
        if (err instanceof DestinationExists) continue;
        throw err;
      }
      target = candidate;
      break;
    }
    if (!target) return { ok: false, error: `no free name for ${e.relPath} in ${e.dir}` };
    const left = await exists(e.storagePath);
    const moved = await exists(target);
    if (left && moved && left.ino === moved.ino) await unlink(e.storagePath); // a crash between link and unlink
    const reasonPath = reasonPathOf(target);
    const tmp = tempPathFor(reasonPath);
    await writeFile(tmp, `${JSON.stringify({ ...e.reason, quarantinePath: target }, null, 2)}\n`);
    await rename(tmp, reasonPath);
    return { ok: true, quarantinePath: target, reasonPath };
  } catch (err) {
    return { ok: false, error: (err as Error).message };
  }
}

/** Moves a quarantined file back to its storage path and removes its reason file. */
export async function restoreFile(e: RestoreEffect): Promise<RestoreResult> {
  try {
    const q = await exists(e.quarantinePath);
    const s = await exists(e.storagePath);
    if (q && s && q.ino === s.ino) await unlink(e.quarantinePath); // a crash between link and unlink
    else if (q && s) return { ok: false, error: `another file is at ${e.storagePath}; nothing was overwritten` };
    else if (q) await moveNoOverwrite(e.quarantinePath, e.storagePath);
    else if (!s) return { ok: false, error: `${e.quarantinePath} is not in quarantine` };
    await unlink(reasonPathOf(e.quarantinePath)).catch((err: NodeJS.ErrnoException) => { if (err.code !== 'ENOENT') throw err; });
    return { ok: true };
  } catch (err) {
    return { ok: false, error: (err as Error).message };
  }
}

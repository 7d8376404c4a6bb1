// The gw processor's filesystem effects: store a chunk in the datastore's buffer directory (rename the
// file the gateway wrote in incoming/, or, for an event that carries the bytes, format and write it, temp
// then rename), remove a refused chunk's file, and move the stored batch into an archive directory. Each
// one checks before it acts, so running it again after a crash finds the work done instead of repeating it.
import { mkdirSync, readdirSync, renameSync, statSync } from 'node:fs';
import { mkdir, readdir, rename, stat, rm, unlink } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { ArchiveBatchEffect, DiscardChunkEffect, StoreChunkEffect } from './rules.ts';
import { InvalidEventError } from '../../platform/errors.ts';
import { chunkJson, writeChunkFile, type ChunkFormat } from '../../domains/gw/chunk-file.ts';
import { datastorePaths } from '../../domains/gw/paths.ts';


export interface EffectDeps {
  /** GW_DATA_DIR: one sub-directory per datastore id */
  root: string;
  /** fsync each file before renaming it (survives power loss; slower) */
  fsync: boolean;
  /** chunk file layout, see chunkJson (default 'json') */
  format?: ChunkFormat;
}

const madeDirs = new Set<string>();
async function ensureDir(dir: string) {
  if (madeDirs.has(dir)) return;
  await mkdir(dir, { recursive: true });
  madeDirs.add(dir);
}

async function sizeOf(path: string): Promise<number | null> {
  try {
    return (await stat(path)).size;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

export interface StoredChunk { bytes: number; path: string; reconciled: boolean }

/** Stores the chunk file unless it is already there (a redelivery after a crash): a rename of the file the
 *  gateway wrote into incoming/, or, for an event that carries the bytes (written before the gateway wrote
 *  the files), the file formatted and written here. Synchronous on purpose: a chunk file is a few hundred KB
 *  into the page cache (well under a millisecond), while five awaited threadpool hops (stat, open, write,
 *  close, rename) each wait for a busy event loop. */
export async function storeChunk(effect: StoreChunkEffect, deps: EffectDeps): Promise<StoredChunk> {
  const p = datastorePaths(deps.root, effect.datastoreId);
  const path = join(p.data, effect.fileName);
  const existing = sizeOfSync(path);
  if (existing !== null) return { bytes: existing, path, reconciled: true };
  if (effect.incoming !== null) return { ...renameIncoming(join(p.incoming, effect.incoming), path, p), path };
  // an event from before the gateway wrote the files: format and write here, temp then rename
  const body = chunkJson(effect.samples!, effect.t0, effect.dt, deps.format);
  const tmp = `${effect.fileName}.${process.pid}.tmp`;
  writeChunkFile(p.tmp, tmp, body, deps.fsync, 'w');
  mkdirSync(p.data, { recursive: true });
  renameSync(join(p.tmp, tmp), path);
  return { bytes: body.length, path, reconciled: false };
}

/** Renames the gateway's file into data/ (made on the first chunk) and returns its size. */
function renameIncoming(from: string, to: string, p: ReturnType<typeof datastorePaths>): { bytes: number; reconciled: boolean } {
  for (let attempt = 0; ; attempt++) {
    try {
      renameSync(from, to);
      return { bytes: statSync(to).size, reconciled: false };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      // an instance that lost the partition mid-batch may have renamed it just now; or a crash before the
      // commit of a batch that stored it and then archived data/ (a /cleanbuf later in the same batch)
      const stored = sizeOfSync(to) ?? archivedSize(p.archive, basename(to));
      if (stored !== null) return { bytes: stored, reconciled: true };
      if (attempt > 0 || sizeOfSync(from) === null) throw new InvalidEventError(`chunk file ${from} is gone and ${to} was never stored`);
      mkdirSync(p.data, { recursive: true });
    }
  }
}

/** The size of a chunk file already moved into one of the datastore's archives, or null. */
function archivedSize(archiveDir: string, name: string): number | null {
  let batches: string[];
  try {
    batches = readdirSync(archiveDir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  for (const b of batches) {
    const size = sizeOfSync(join(archiveDir, b, name));
    if (size !== null) return size;
  }
  return null;
}

/** Removes a refused chunk's file from incoming/ (already gone after a redelivery: nothing to do). */
export async function discardChunk(effect: DiscardChunkEffect, deps: EffectDeps): Promise<void> {
  await unlink(join(datastorePaths(deps.root, effect.datastoreId).incoming, effect.incoming)).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw err;
  });
}

function sizeOfSync(path: string): number | null {
  try {
    return statSync(path).size;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/** After a crash mid-store: the file is either fully there (rename is atomic) or not at all. */
export async function findStoredChunk(effect: StoreChunkEffect, deps: EffectDeps): Promise<StoredChunk | null> {
  const path = join(datastorePaths(deps.root, effect.datastoreId).data, effect.fileName);
  const bytes = await sizeOf(path);
  return bytes === null ? null : { bytes, path, reconciled: true };
}

export interface ArchivedBatch { archivePath: string; nFiles: number; bytes: number; reconciled: boolean }

async function countFiles(dir: string): Promise<{ nFiles: number; bytes: number }> {
  let nFiles = 0;
  let bytes = 0;
  for (const name of (await readdir(dir)).filter((n) => n.endsWith('.json'))) {
    nFiles++;
    bytes += (await stat(join(dir, name))).size;
  }
  return { nFiles, bytes };
}

/** Moves data/ to archive/<name>/ in one rename (seed /cleanall), then starts an empty data/. */
export async function archiveBatch(effect: ArchiveBatchEffect, deps: EffectDeps): Promise<ArchivedBatch> {
  const p = datastorePaths(deps.root, effect.datastoreId);
  const archivePath = join(p.archive, effect.archiveName);
  await ensureDir(p.archive);
  let reconciled = true;
  if ((await sizeOf(archivePath)) === null) {
    reconciled = false;
    if ((await sizeOf(p.data)) === null) await mkdir(archivePath);
    else await rename(p.data, archivePath);
  }
  await mkdir(p.data, { recursive: true });
  // partial writes of the archived batch are garbage now
  await rm(p.tmp, { recursive: true, force: true });
  return { archivePath, ...(await countFiles(archivePath)), reconciled };
}

/** After a crash mid-archive: done if the archive directory exists (the rename happened). */
export async function findArchivedBatch(effect: ArchiveBatchEffect, deps: EffectDeps): Promise<ArchivedBatch | null> {
  const archivePath = join(datastorePaths(deps.root, effect.datastoreId).archive, effect.archiveName);
  if ((await sizeOf(archivePath)) === null) return null;
  await mkdir(datastorePaths(deps.root, effect.datastoreId).data, { recursive: true });
  return { archivePath, ...(await countFiles(archivePath)), reconciled: true };
}

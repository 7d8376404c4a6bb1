// Ingest backfill (an edge producer run by `dbb ingest backfill`): records files already in storage
// as FileBackfilled (status BACKFILL), skipping files the projection already knows.
import type pg from 'pg';
import type { Logger } from 'pino';
import cliProgress from 'cli-progress';
import type { Appender } from '../../platform/types.ts';
import { newId } from '../../platform/ids.ts';
import { Limiter } from '../../platform/limiter.ts';
import { fileIdOf } from '../../domains/ingest/ids.ts';
import { knownFileIds } from '../../projections/ingest/queries.ts';
import { sha256File } from '../../domains/ingest/files.ts';
import { expandSources } from './glob.ts';

export interface OpsDeps {
  appender: Appender;
  db: Pick<pg.Pool, 'query'>;
  log: Logger;
}

/** `dbb ingest backfill --storage DIR SOURCES...`: records files already in storage with status BACKFILL.
 *  Files the projection already knows are skipped; the tool does not check the data repository (seed warning). */
export async function backfill(deps: OpsDeps, opts: { storage: string; sources: string[]; progress?: boolean; concurrency?: number }) {
  const files = await expandSources(opts.storage, opts.sources);
  const bar = opts.progress ? new cliProgress.SingleBar({ format: 'backfill [{bar}] {value}/{total} files', stream: process.stderr }, cliProgress.Presets.shades_classic) : null;
  bar?.start(files.length, 0);
  const limiter = new Limiter(opts.concurrency ?? 32);
  let recorded = 0;
  let skipped = 0;
  const requestId = newId();
  const CHUNK = 500;
  try {
    for (let i = 0; i < files.length; i += CHUNK) {
      const chunk = await Promise.all(files.slice(i, i + CHUNK).map((f) => limiter.run(async () => ({ f, checksum: await sha256File(f.path) }))));
      const withIds = chunk.map((c) => ({ ...c, fileId: fileIdOf(c.f.rel, c.checksum) }));
      const known = await knownFileIds(deps.db, withIds.map((c) => c.fileId));
      await Promise.all(withIds.map(async ({ f, checksum, fileId }) => {
        if (known.has(fileId)) { skipped++; return; }
        await deps.appender.append('FileBackfilled', fileId, { fileId, relPath: f.rel, storagePath: f.path, size: f.size, checksum }, { correlationId: requestId });
        recorded++;
      }));
      bar?.update(Math.min(files.length, i + CHUNK));
    }
  } finally {
    bar?.stop();
  }
  deps.log.info({ found: files.length, recorded, skipped }, 'ingest: backfill done');
  return { found: files.length, recorded, skipped, requestId };
}

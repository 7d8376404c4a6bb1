// Rerun requests: the file selection (projection) and one IngestRerunRequested per file. Shared by
// the gateway's POST /api/v1/ingest/rerun and `dbb ingest rerun`.
import type pg from 'pg';
import type { Appender } from '../../platform/types.ts';
import { newId } from '../../platform/ids.ts';
import { selectForRerun } from '../../projections/ingest/queries.ts';
import type { IngestStatus } from '../../domains/ingest/status.ts';

export interface RerunSelection {
  statuses: IngestStatus[];
  since?: Date;
  /** file ids, relative paths or storage paths */
  files?: string[];
  reason?: string | null;
  actor?: string | null;
}

/** Appends one IngestRerunRequested per selected file, all under one correlation id. */
export async function requestReruns(deps: { appender: Appender; db: Pick<pg.Pool, 'query'> }, sel: RerunSelection): Promise<{ requestId: string; fileIds: string[]; eventIds: string[] }> {
  const fileIds = await selectForRerun(deps.db, { statuses: sel.statuses, since: sel.since, fileIds: sel.files });
  const requestId = newId();
  const metas = await Promise.all(fileIds.map((fileId) =>
    deps.appender.append('IngestRerunRequested', fileId, { fileId, reason: sel.reason ?? null }, { correlationId: requestId, actor: sel.actor ?? null })));
  return { requestId, fileIds, eventIds: metas.map((m) => m.eventId) };
}

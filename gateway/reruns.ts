// Rerun requests of every domain: a selection read from the projection, then one rerun request
// event per selected item (the processor decides each; it ignores what no longer applies). Shared by
// the gateway's rerun routes and the CLI (`dbb ingest rerun`, `dbb rerun staging|tape`).
import type pg from 'pg';
import type { Appender } from '../platform/types.ts';
import { newId } from '../platform/ids.ts';
import { selectForRerun } from '../projections/ingest/queries.ts';
import { listStagingRequests } from '../projections/staging/queries.ts';
import { listFailedCallbacks } from '../projections/tape/queries.ts';
import { jobKey } from '../domains/tape/ids.ts';
import type { IngestStatus } from '../domains/ingest/status.ts';

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

/** Failed staging requests (`dbb rerun staging --status FAILURE`): one StagingRerunRequested per
 *  FAILURE request; the processor repeats each as a new attempt. */
export async function rerunFailedStaging(deps: { db: Pick<pg.Pool, 'query'>; appender: Appender }, opts: { actor?: string | null; username?: string; since?: Date; limit?: number; reason?: string } = {}): Promise<string[]> {
  const failed = await listStagingRequests(deps.db, { status: 'FAILURE', username: opts.username, limit: opts.limit ?? 10_000 });
  const ids = failed.filter((r) => !opts.since || new Date(r.requested_at) >= opts.since).map((r) => r.id);
  for (const id of ids) await deps.appender.append('StagingRerunRequested', id, { requestId: id, reason: opts.reason ?? 'dbb rerun' }, { actor: opts.actor ?? null });
  return ids;
}

/** Failed tape callbacks (`dbb rerun tape --callbacks-failed`, POST /api/v1/tape/callbacks/rerun): one
 *  TapeCallbackRerunRequested per job whose delivery failed; the processor resends with the same
 *  Idempotency-Key and ignores a job whose callback is no longer failed. */
export async function rerunFailedTapeCallbacks(deps: { db: Pick<pg.Pool, 'query'>; appender: Appender }, opts: { actor?: string | null; jobIds?: number[] } = {}): Promise<number[]> {
  const failed = await listFailedCallbacks(deps.db);
  const wanted = opts.jobIds ? failed.filter((id) => opts.jobIds!.includes(id)) : failed;
  await Promise.all(wanted.map((jobId) => deps.appender.append('TapeCallbackRerunRequested', jobKey(jobId), { jobId }, { actor: opts.actor ?? null })));
  return wanted;
}

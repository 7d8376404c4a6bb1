// Rerun of failed staging requests for the CLI (`dbb rerun staging --status FAILURE`): appends one
// StagingRerunRequested per FAILURE request; the processor repeats each as a new attempt.
import type pg from 'pg';
import type { Appender } from '../../platform/types.ts';
import { listStagingRequests } from '../../projections/staging/queries.ts';

export async function rerunFailedStaging(deps: { db: Pick<pg.Pool, 'query'>; appender: Appender }, opts: { actor?: string | null; username?: string; since?: Date; limit?: number; reason?: string } = {}): Promise<string[]> {
  const failed = await listStagingRequests(deps.db, { status: 'FAILURE', username: opts.username, limit: opts.limit ?? 10_000 });
  const ids = failed.filter((r) => !opts.since || new Date(r.requested_at) >= opts.since).map((r) => r.id);
  for (const id of ids) await deps.appender.append('StagingRerunRequested', id, { requestId: id, reason: opts.reason ?? 'dbb rerun' }, { actor: opts.actor ?? null });
  return ids;
}

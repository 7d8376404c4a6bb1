// The staging projection: folds dbb.staging.requests into staging_requests (one row per request,
// paths, method, user, status, error reason, timings) and staging_log (the log view). Rebuildable.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import type { ConsumerSpec, DomainDeps } from '../../platform/types.ts';
import { TOPIC } from '../../schemas/generated/index.ts';
import { fold, type RowChange } from './fold.ts';

export const NAME = 'projection.staging';
const ts = (ms: number | null) => (ms === null ? null : new Date(ms));

export async function applyChange(tx: pg.PoolClient, c: RowChange): Promise<void> {
  switch (c.type) {
    case 'upsertRequest': {
      const r = c.row;
      await tx.query(
        `INSERT INTO staging_requests (request_id, method, username, local_path_on_storage, relative_path, status, actor, requested_at, last_offset)
         VALUES ($1, $2, $3, $4, $5, 'QUEUED', $6, $7, $8) ON CONFLICT (request_id) DO NOTHING`,
        [r.requestId, r.method, r.username, r.localPathOnStorage, r.relativePath, r.actor, ts(r.requestedAt), r.offset]);
      return;
    }
    case 'completeRequest': {
      const r = c.row;
      await tx.query(
        `UPDATE staging_requests SET status = $2, skipped = $3, reconciled = $4, source_path = $5, destination = $6, size_bytes = $7,
           error_code = $8, error_reason = $9, started_at = $10, finished_at = $11, last_offset = $12
         WHERE request_id = $1 AND status = 'QUEUED' AND last_offset < $12`,
        [r.requestId, r.status, r.skipped, r.reconciled, r.sourcePath, r.destination, r.sizeBytes, r.errorCode, r.errorReason, ts(r.startedAt), ts(r.finishedAt), r.offset]);
      return;
    }
    case 'appendLog': {
      const r = c.row;
      await tx.query(
        'INSERT INTO staging_log (event_id, at, level, request_id, event, message) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (event_id) DO NOTHING',
        [r.eventId, ts(r.at), r.level, r.requestId, r.event, r.message]);
      return;
    }
  }
}

export function createStagingProjection(deps: DomainDeps): ConsumerSpec {
  void deps;
  return {
    name: NAME,
    kind: 'projection',
    topics: [TOPIC.STAGING_REQUESTS],
    migrationsDir: join(dirname(fileURLToPath(import.meta.url)), 'migrations'),
    async handle(event, ctx) {
      for (const change of fold(event)) await applyChange(ctx.tx, change);
    },
  };
}

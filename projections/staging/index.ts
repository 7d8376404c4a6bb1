// The staging projection: folds dbb.staging.requests into staging_requests (one row per request,
// paths, method, user, status, error reason, timings) and staging_log (the log view). Rebuildable.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ConsumerSpec, DomainDeps } from '../../platform/types.ts';
import { TOPIC } from '../../schemas/generated/index.ts';
import { fold } from './fold.ts';
import { applyBatch, applyChange } from './apply.ts';

export const NAME = 'projection.staging';

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
    async handleBatch(events, ctx) {
      await applyBatch(ctx.tx, events.flatMap((e) => fold(e)));
    },
  };
}

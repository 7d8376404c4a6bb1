// The staging projection: folds dbb.staging.requests into staging_requests (one row per request,
// paths, method, user, status, error reason, timings) and staging_log (the log view). Rebuildable.
import type { ConsumerSpec, DomainDeps } from '../../platform/types.ts';
import { consumerSpec } from '../../platform/consumer-spec.ts';
import { TOPIC } from '../../schemas/generated/index.ts';
import { fold } from './fold.ts';
import { applyBatch, applyChange } from './apply.ts';

export const NAME = 'projection.staging';

export const createStagingProjection = (_deps?: DomainDeps): ConsumerSpec => consumerSpec('projection', NAME, {
  topics: [TOPIC.STAGING_REQUESTS],
  migrations: new URL('./migrations', import.meta.url),
  async handle(event, ctx) {
    for (const change of fold(event)) await applyChange(ctx.tx, change);
  },
  handleBatch: async (events, ctx) => { await applyBatch(ctx.tx, events.flatMap((e) => fold(e))); },
});

// Wiring of the staging processor: consumes dbb.staging.requests, runs each StagingRequested's (or rerun's,
// or started waiting request's) effect through ctx.runEffect (reconciling an UNKNOWN outcome) and emits
// FileStaged/StagingFailed, StagingWaiting/StagingStarted and StagingNotificationDelivered/-Failed.
// Rules live in rules.ts, side effects in effects.ts, the loop around them in handler.ts; nothing here decides anything.
import type { ConsumerSpec, DomainDeps } from '../../platform/types.ts';
import { TOPIC } from '../../schemas/generated/index.ts';
import { consumerSpec } from '../../platform/consumer-spec.ts';
import { loadStagingConfig, notifyPolicy, type StagingConfig } from '../../domains/staging/config.ts';
import { stagingHandler } from './handler.ts';

export const NAME = 'processor.staging';

export function createStagingProcessor(deps: DomainDeps, opts: { cfg?: StagingConfig } = {}): ConsumerSpec {
  const cfg = opts.cfg ?? loadStagingConfig(deps.env);
  const { handle, handleBatch } = stagingHandler(cfg, { cfg, now: Date.now }, notifyPolicy(cfg));
  return consumerSpec('processor', NAME, { topics: [TOPIC.STAGING_REQUESTS], migrations: new URL('./migrations', import.meta.url), handle, handleBatch });
}

// Wiring of the tape processor (processor.tape): consumes dbb.tape.jobs, keeps job state in
// processor_tape, runs the effects (data-files lookup, batchstage, cancel, callback) and appends the
// outcome events. The loop around the rules in handler.ts, rules in rules.ts, effects in effects.ts, SQL in store.ts.
import { TOPIC } from '../../schemas/generated/index.ts';
import { consumerSpec } from '../../platform/consumer-spec.ts';
import { ns } from '../../platform/config.ts';
import type { ConsumerSpec, DomainDeps } from '../../platform/types.ts';
import { loadTapeConfig, type TapeConfig } from '../../domains/tape/config.ts';
import { createScout, type ScoutClient } from '../../domains/tape/scout.ts';
import type { EffectDeps } from './effects.ts';
import { tapeHandler } from './handler.ts';
import { parseAllowList } from '../../domains/tape/callback-target.ts';

export const NAME = 'processor.tape';

export interface TapeProcessorOverrides { scout?: ScoutClient; sleep?: (ms: number) => Promise<void> }

export function createTapeProcessor(deps: DomainDeps, overrides: TapeProcessorOverrides = {}): ConsumerSpec {
  const cfg = loadTapeConfig(deps.env);
  const effectDeps: EffectDeps = {
    scout: overrides.scout ?? createScout(cfg),
    dataFilesUrl: cfg.dataFilesUrl,
    notificationsTopic: ns(deps.config, cfg.notificationsTopic),
    callback: {
      user: cfg.callbackUser, password: cfg.callbackPassword, attempts: cfg.callbackAttempts, backoffMs: cfg.callbackBackoffMs, timeoutMs: cfg.callbackTimeoutMs, jitter: cfg.retryJitter,
      secret: cfg.callbackSecret, maxRetryAfterMs: cfg.callbackMaxRetryAfterS * 1000, allow: parseAllowList(cfg.callbackAllow),
    },
    sleep: overrides.sleep,
  };
  const retryPolicy = { rounds: cfg.callbackRetryRounds, firstDelayMs: cfg.callbackRetryFirstMs, maxDelayMs: cfg.callbackRetryMaxMs, windowMs: cfg.callbackRetryForS * 1000 };
  const { handle, handleBatch } = tapeHandler(cfg, effectDeps, retryPolicy);
  return consumerSpec('processor', NAME, { topics: [TOPIC.TAPE_JOBS], migrations: new URL('./migrations', import.meta.url), handle, handleBatch });
}

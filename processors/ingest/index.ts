// processor.ingest: consumes dbb.ingest.files; for a moved file or a rerun it appends IngestQueued
// (PENDING), runs the attempt once through ctx.runEffect and appends IngestAttempted. Its own outputs
// are evolved into the state as they are emitted and skipped when they come back. Wiring only.
import { TOPIC } from '../../schemas/generated/index.ts';
import { consumerSpec } from '../../platform/consumer-spec.ts';
import type { ConsumerSpec, DomainDeps } from '../../platform/types.ts';
import { Limiter } from '../../platform/limiter.ts';
import { loadIngestConfig, ingesterOf, type IngestConfig } from '../../domains/ingest/config.ts';
import { createPlugin, type IngestPlugin } from './plugins/index.ts';
import type { IngestEffectDeps } from './effects.ts';
import { ingestHandler } from './handler.ts';

export const NAME = 'processor.ingest';

export function createIngestProcessor(deps: DomainDeps, opts: { config?: IngestConfig; plugin?: IngestPlugin } = {}): ConsumerSpec {
  const ingester = ingesterOf(opts.config ?? loadIngestConfig(deps.env));
  const databaseUrl = opts.config?.database?.engine ?? deps.config.databaseUrl;
  let effectDeps: IngestEffectDeps | null = null;
  const effects = () => (effectDeps ??= {
    plugin: opts.plugin ?? createPlugin(ingester.plugin.name, ingester.plugin.config, { databaseUrl }),
    limiter: new Limiter(ingester.concurrency),
    now: () => performance.now(),
  });
  const { handle, handleBatch } = ingestHandler(ingester.plugin.name, effects, ingester.concurrency, ingester.quarantine ?? null);
  return consumerSpec('processor', NAME, { topics: [TOPIC.INGEST_FILES], migrations: new URL('./migrations', import.meta.url), handle, handleBatch });
}

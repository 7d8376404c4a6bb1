// projection.ingest: folds dbb.ingest.files into projection_ingest.files (current status per file)
// and projection_ingest.file_events (complete history). Rebuildable from offset 0 (`dbb replay`).
import { TOPIC } from '../../schemas/generated/index.ts';
import type { ConsumerSpec, DomainDeps } from '../../platform/types.ts';
import { consumerSpec } from '../../platform/consumer-spec.ts';
import { fold } from './fold.ts';
import { applyBatch, applyChanges } from './apply.ts';

export const NAME = 'projection.ingest';

export const createIngestProjection = (_deps?: DomainDeps): ConsumerSpec => consumerSpec('projection', NAME, {
  topics: [TOPIC.INGEST_FILES],
  migrations: new URL('./migrations', import.meta.url),
  handle: (event, ctx) => applyChanges(ctx.tx, fold(event)),
  handleBatch: async (events, ctx) => { await applyBatch(ctx.tx, events.flatMap((e) => fold(e))); },
});

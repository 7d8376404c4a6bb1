// projection.ingest: folds dbb.ingest.files into projection_ingest.files (current status per file)
// and projection_ingest.file_events (complete history). Rebuildable from offset 0 (`dbb replay`).
import { fileURLToPath } from 'node:url';
import { TOPIC } from '../../schemas/generated/index.ts';
import type { ConsumerSpec, DomainDeps } from '../../platform/types.ts';
import { fold } from './fold.ts';
import { applyBatch, applyChanges } from './apply.ts';

export const NAME = 'projection.ingest';

export function createIngestProjection(deps: DomainDeps): ConsumerSpec {
  void deps;
  return {
    name: NAME,
    kind: 'projection',
    topics: [TOPIC.INGEST_FILES],
    migrationsDir: fileURLToPath(new URL('./migrations', import.meta.url)),
    async handle(event, ctx) {
      await applyChanges(ctx.tx, fold(event));
    },
    async handleBatch(events, ctx) {
      await applyBatch(ctx.tx, events.flatMap((e) => fold(e)));
    },
  };
}

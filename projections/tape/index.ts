// The tape projection: folds dbb.tape.jobs into projection_tape (jobs, files, adapter), which the
// gateway reads through queries.ts. Rebuildable from offset 0 (`dbb replay projection.tape`).
import { TOPIC } from '../../schemas/generated/index.ts';
import type { ConsumerSpec, DomainDeps } from '../../platform/types.ts';
import { consumerSpec } from '../../platform/consumer-spec.ts';
import { fold } from './fold.ts';
import { applyBatch, applyChanges } from './apply.ts';

export const NAME = 'projection.tape';

export const createTapeProjection = (_deps?: DomainDeps): ConsumerSpec => consumerSpec('projection', NAME, {
  topics: [TOPIC.TAPE_JOBS],
  migrations: new URL('./migrations', import.meta.url),
  handle: (event, ctx) => applyChanges(ctx.tx, event.offset, fold(event)),
  handleBatch: (events, ctx) => applyBatch(ctx.tx, events.map((e) => ({ offset: e.offset, changes: fold(e) }))),
});

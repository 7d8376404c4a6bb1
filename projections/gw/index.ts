// The gw projection: folds dbb.gw.datastore outcomes into projection_gw (datastores, files, history),
// which the gateway reads through queries.ts. Rebuildable from offset 0 (`dbb replay projection.gw`).
import { TOPIC } from '../../schemas/generated/index.ts';
import type { ConsumerSpec, DomainDeps } from '../../platform/types.ts';
import { consumerSpec } from '../../platform/consumer-spec.ts';
import { fold } from './fold.ts';
import { applyBatch, applyChanges } from './apply.ts';

export const NAME = 'projection.gw';

export const createGwProjection = (_deps?: DomainDeps): ConsumerSpec => consumerSpec('projection', NAME, {
  topics: [TOPIC.GW_DATASTORE],
  migrations: new URL('./migrations', import.meta.url),
  handle: (event, ctx) => applyChanges(ctx.tx, event.offset, event.meta.occurredAt, fold(event)),
  handleBatch: (events, ctx) => applyBatch(ctx.tx, events.map((e) => ({ offset: e.offset, occurredAt: e.meta.occurredAt, changes: fold(e) }))),
});

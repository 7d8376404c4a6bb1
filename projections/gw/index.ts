// The gw projection: folds dbb.gw.datastore outcomes into projection_gw (datastores, files, history),
// which the gateway reads through queries.ts. Rebuildable from offset 0 (`dbb replay projection.gw`).
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TOPIC } from '../../schemas/generated/index.ts';
import type { ConsumerSpec, DomainDeps } from '../../platform/types.ts';
import { fold } from './fold.ts';
import { applyBatch, applyChanges } from './apply.ts';

export const NAME = 'projection.gw';

export function createGwProjection(deps: DomainDeps): ConsumerSpec {
  void deps;
  return {
    name: NAME,
    kind: 'projection',
    topics: [TOPIC.GW_DATASTORE],
    migrationsDir: join(dirname(fileURLToPath(import.meta.url)), 'migrations'),
    handle: (event, ctx) => applyChanges(ctx.tx, event.offset, event.meta.occurredAt, fold(event)),
    handleBatch: (events, ctx) => applyBatch(ctx.tx, events.map((e) => ({ offset: e.offset, occurredAt: e.meta.occurredAt, changes: fold(e) }))),
  };
}

// The history projection: one row per event of every domain topic (domain, entity key, position,
// time, actor, event type, outcome), read by GET /api/v1/<domain>/<entity>/{id}/history. Rebuildable
// from offset 0 (`dbb replay history`); it writes nothing but projection_history.
import type { ConsumerSpec, DomainDeps } from '../../platform/types.ts';
import { consumerSpec } from '../../platform/consumer-spec.ts';
import { TOPIC } from '../../schemas/generated/index.ts';
import { fold, type HistoryRow } from './fold.ts';
import { applyRows } from './apply.ts';

export const NAME = 'projection.history';

/** The domain topics whose events name an entity. dbb.gw.requests is left out: its chunk requests are
 *  large and every one of them has an outcome on dbb.gw.datastore carrying the same actor. */
export const HISTORY_TOPICS = [TOPIC.STAGING_REQUESTS, TOPIC.TAPE_JOBS, TOPIC.GW_DATASTORE, TOPIC.INGEST_FILES, TOPIC.IVOA_DIDS];

const rowsOf = (events: Parameters<ConsumerSpec['handle']>[0][]) => events.map((e) => fold(e)).filter((r): r is HistoryRow => r !== null);

export const createHistoryProjection = (_deps?: DomainDeps): ConsumerSpec => consumerSpec('projection', NAME, {
  topics: HISTORY_TOPICS,
  migrations: new URL('./migrations', import.meta.url),
  handle: (event, ctx) => applyRows(ctx.tx, rowsOf([event])),
  handleBatch: (events, ctx) => applyRows(ctx.tx, rowsOf(events)),
});

// The gw processor: consumes dbb.gw.requests (chunks, /train, /cleanbuf) keyed by datastore id and
// appends outcomes to dbb.gw.datastore. Wiring only; the rules are in rules.ts.
import { TOPIC } from '../../schemas/generated/index.ts';
import { consumerSpec } from '../../platform/consumer-spec.ts';
import type { ConsumerSpec, DomainDeps } from '../../platform/types.ts';
import { loadGwConfig } from '../../domains/gw/config.ts';
import { gwHandler } from './handler.ts';

export const NAME = 'processor.gw';

export function createGwProcessor(deps: DomainDeps): ConsumerSpec {
  const gw = loadGwConfig(deps.config, deps.env);
  const fx = { root: gw.dataDir, fsync: gw.fsync, format: gw.fileFormat };
  const { handle, handleBatch } = gwHandler(gw, fx);
  return consumerSpec('processor', NAME, { topics: [TOPIC.GW_REQUESTS], migrations: new URL('./migrations', import.meta.url), handle, handleBatch });
}

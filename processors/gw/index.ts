// The gw processor: consumes dbb.gw.requests (chunks, /train, /cleanbuf) keyed by datastore id and
// appends outcomes to dbb.gw.datastore. Wiring only; the rules are in rules.ts.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TOPIC } from '../../schemas/generated/index.ts';
import type { ConsumerSpec, DomainDeps } from '../../platform/types.ts';
import { loadGwConfig } from '../../domains/gw/config.ts';
import { gwHandler } from './handler.ts';
import { FormatPool } from './format-pool.ts';

export const NAME = 'processor.gw';

export function createGwProcessor(deps: DomainDeps): ConsumerSpec {
  const gw = loadGwConfig(deps.config, deps.env);
  const fx = { root: gw.dataDir, fsync: gw.fsync, format: gw.fileFormat };
  const pool = gw.formatWorkers > 0 ? new FormatPool(gw.formatWorkers) : undefined;
  const { handle, handleBatch } = gwHandler(gw, fx, pool);
  return {
    name: NAME,
    kind: 'processor',
    topics: [TOPIC.GW_REQUESTS],
    migrationsDir: join(dirname(fileURLToPath(import.meta.url)), 'migrations'),
    handle,
    handleBatch,
  };
}

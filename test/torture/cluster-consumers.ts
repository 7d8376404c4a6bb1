// The consumers of one processor instance in the 3-broker run (cluster.test.ts): the torture projection
// and processor (histories, external effects) and the GW processor that answers /streamdata requests.
import { createGwProcessor } from '../../processors/gw/index.ts';
import type { DomainDeps } from '../../platform/types.ts';
import { createTortureConsumers } from './consumers.ts';

export const createClusterConsumers = (deps: DomainDeps) => [...createTortureConsumers(deps), createGwProcessor(deps)];

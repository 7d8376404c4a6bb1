// Every processor of the system, for `dbb up` and `dbb run processor <domain>`.
import type { ConsumerSpec, DomainDeps } from '../platform/types.ts';
import { createTapeProcessor } from './tape/index.ts';
import { createStagingProcessor } from './staging/index.ts';
import { createGwProcessor } from './gw/index.ts';
import { createIngestProcessor } from './ingest/index.ts';

export function createProcessors(deps: DomainDeps): ConsumerSpec[] {
  return [
    createTapeProcessor(deps),
    createStagingProcessor(deps),
    createGwProcessor(deps),
    createIngestProcessor(deps),
  ];
}

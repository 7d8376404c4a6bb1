// Every projection of the system, for `dbb up`, `dbb run projection <domain>` and `dbb replay`.
import type { ConsumerSpec, DomainDeps } from '../platform/types.ts';
import { createTapeProjection } from './tape/index.ts';
import { createStagingProjection } from './staging/index.ts';
import { createIvoaProjection } from './ivoa/index.ts';
import { createGwProjection } from './gw/index.ts';
import { createIngestProjection } from './ingest/index.ts';
import { createHistoryProjection } from './history/index.ts';

export function createProjections(deps: DomainDeps): ConsumerSpec[] {
  return [
    createTapeProjection(deps),
    createStagingProjection(deps),
    createIvoaProjection(deps),
    createGwProjection(deps),
    createIngestProjection(deps),
    createHistoryProjection(deps),
  ];
}

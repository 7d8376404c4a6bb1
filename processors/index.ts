// Every processor of the system, for `dbb up` and `dbb run processor <domain>`.
import type { ConsumerSpec, DomainDeps } from '../platform/types.ts';
import { createGwProcessor } from './gw/index.ts';

export function createProcessors(deps: DomainDeps): ConsumerSpec[] {
  return [
    createGwProcessor(deps),
  ];
}

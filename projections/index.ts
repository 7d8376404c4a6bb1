// Every projection of the system, for `dbb up`, `dbb run projection <domain>` and `dbb replay`.
import type { ConsumerSpec, DomainDeps } from '../platform/types.ts';

export function createProjections(deps: DomainDeps): ConsumerSpec[] {
  void deps;
  return [];
}

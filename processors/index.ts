// Every processor of the system, for `dbb up` and `dbb run processor <domain>`.
import type { ConsumerSpec, DomainDeps, ServiceSpec } from '../platform/types.ts';
import { startTapeNotifications } from '../producers/tape-notifications/index.ts';
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

/** Edge services that must run beside the processors. */
export function createServices(): ServiceSpec[] {
  return [
    { name: 'producer.tape-notifications', start: (p) => startTapeNotifications({ config: p.config, env: p.env, kafka: p.kafka, db: p.db, producer: p.producer, appender: p.appender, log: p.log }) },
  ];
}

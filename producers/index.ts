// Every edge service (a producer that runs beside the processors), for `dbb up` and `dbb run workers`.
import type { ServiceSpec } from '../platform/runtime.ts';
import { startTapeNotifications } from './tape-notifications/index.ts';

/** Edge services that must run beside the processors. */
export function createServices(): ServiceSpec[] {
  return [
    { name: 'producer.tape-notifications', start: (p) => startTapeNotifications({ config: p.config, env: p.env, kafka: p.kafka, db: p.db, producer: p.producer, appender: p.appender, log: p.log }) },
  ];
}

// Builds a ConsumerSpec from what differs between consumers: kind, name, topics, the migrations folder
// beside the module, and the handlers. Every processor's and projection's index.ts uses it.
import { fileURLToPath } from 'node:url';
import type { ConsumerSpec } from './types.ts';

export function consumerSpec(kind: ConsumerSpec['kind'], name: string, parts: {
  topics: string[];
  /** `new URL('./migrations', import.meta.url)` of the consumer's module */
  migrations: URL;
  handle: ConsumerSpec['handle'];
  handleBatch?: ConsumerSpec['handleBatch'];
}): ConsumerSpec {
  return { kind, name, topics: parts.topics, migrationsDir: fileURLToPath(parts.migrations), handle: parts.handle, handleBatch: parts.handleBatch };
}

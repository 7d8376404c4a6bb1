// The known ingest plugins by name, each behind its own concurrency limit.
import { IngestConfigError } from '../../../domains/ingest/config.ts';
import { createCommandPlugin } from './command.ts';
import { createRegistryPlugin } from './registry.ts';
import type { IngestPlugin } from './types.ts';

export type { IngestFile, IngestPlugin, IngestResult } from './types.ts';

export const PLUGINS: Record<string, (config: unknown, defaults: { databaseUrl: string }) => IngestPlugin> = {
  Registry: createRegistryPlugin,
  Command: (config) => createCommandPlugin(config),
};

export function createPlugin(name: string, config: unknown, defaults: { databaseUrl: string }): IngestPlugin {
  const make = PLUGINS[name];
  if (!make) throw new IngestConfigError(`ingester.plugin.name: unknown plugin ${JSON.stringify(name)} (known: ${Object.keys(PLUGINS).join(', ')})`);
  return make(config, defaults);
}

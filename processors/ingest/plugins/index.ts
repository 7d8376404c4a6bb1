// The known ingest plugins by name, each behind its own concurrency limit.
import { IngestConfigError } from '../config.ts';
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

/** A counting semaphore: at most `limit` holders at once. */
export class Limiter {
  private active = 0;
  private waiting: (() => void)[] = [];
  constructor(readonly limit: number) {}
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active >= this.limit) await new Promise<void>((r) => this.waiting.push(r));
    else this.active++;
    try {
      return await fn();
    } finally {
      const next = this.waiting.shift();
      if (next) next(); else this.active--;
    }
  }
}

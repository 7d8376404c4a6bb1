// Validates a plugin's config section with its TypeBox schema; messages name the plugin and path.
import type { Static, TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { IngestConfigError } from '../../../domains/ingest/config.ts';

export function checkPluginConfig<S extends TSchema>(plugin: string, schema: S, raw: unknown): Static<S> {
  const value = Value.Default(schema, Value.Convert(schema, raw ?? {}));
  if (!Value.Check(schema, value)) {
    const e = [...Value.Errors(schema, value)][0];
    throw new IngestConfigError(`ingester.plugin.config (${plugin}) ${e.path.replace(/^\//, '').replace(/\//g, '.') || ''}: ${e.message}`);
  }
  return value as Static<S>;
}

// Brings up (or reuses) the native stack once for the whole integration run, with the same code as `dbb up`.
import type { TestProject } from 'vitest/node';
import { join } from 'node:path';
import { ensureStack } from '../../infra/stack.ts';

export default async function setup(project: TestProject) {
  const stateDir = process.env.DBB_STATE_DIR ?? join(process.cwd(), '.dbb');
  const info = await ensureStack({ stateDir, log: (m) => console.log(`[stack] ${m}`), databaseUrl: process.env.DATABASE_URL });
  process.env.KAFKA_BROKERS = info.brokers.join(',');
  process.env.SCHEMA_REGISTRY_URL = info.registryUrl;
  project.provide('stack', { brokers: info.brokers, registryUrl: info.registryUrl });
}

declare module 'vitest' {
  export interface ProvidedContext { stack: { brokers: string[]; registryUrl: string } }
}

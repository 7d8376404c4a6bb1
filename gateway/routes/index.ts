// Every domain's route plugin, registered by gateway/app.ts.
import type { RoutePlugin } from '../types.ts';
import { tapeRoutes } from './tape.ts';
import { stagingRoutes } from './staging.ts';
import { ivoaRoutes } from './ivoa.ts';
import { gwRoutes } from './gw.ts';
import { ingestRoutes } from './ingest.ts';
import { consoleRoutes } from './console.ts';
import { opsRoutes } from './ops.ts';
import { historyRoutes } from './history.ts';

/** The five domains (what /readyz reports availability for); console and ops are views over them. */
export const DOMAINS = ['gw', 'staging', 'tape', 'ingest', 'ivoa'] as const;

export const DOMAIN_ROUTES: { name: string; plugin: RoutePlugin }[] = [
  { name: 'tape', plugin: tapeRoutes },
  { name: 'staging', plugin: stagingRoutes },
  { name: 'ivoa', plugin: ivoaRoutes },
  { name: 'gw', plugin: gwRoutes },
  { name: 'ingest', plugin: ingestRoutes },
  { name: 'console', plugin: consoleRoutes },
  { name: 'ops', plugin: opsRoutes },
  { name: 'history', plugin: historyRoutes },
];

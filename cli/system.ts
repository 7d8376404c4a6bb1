// Starts a whole Data Backbone process: platform, the chosen processors/projections, and optionally
// the gateway. `dbb up` runs everything in one process; `dbb run <part>` runs one part alone.
import type { Logger } from 'pino';
import { loadConfig, type Config, type Env } from '../platform/config.ts';
import { startPlatform, type Platform } from '../platform/runtime.ts';
import { startReplyListener, type ReplyListener } from '../platform/request-reply.ts';
import { createProcessors } from '../processors/index.ts';
import { createServices } from '../producers/index.ts';
import { createProjections } from '../projections/index.ts';
import { buildApp } from '../gateway/app.ts';
import { createAuth } from '../gateway/plugins/auth.ts';
import type { App } from '../gateway/types.ts';
import type { ConsumerSpec } from '../platform/types.ts';
import { metrics } from '../platform/metrics.ts';
import { consumerLag } from '../platform/inspect.ts';
import { initTracing } from '../platform/tracing.ts';
import { loadOpsConfig, serveOps } from '../platform/ops-server.ts';
import { Availability, runProbes, type Probe } from '../platform/availability.ts';
import { pgSphereProbe } from '../projections/ivoa/requirements.ts';
import { checkTapRunning, serveTapFor } from '../infra/tap/dachs.ts';
import { DOMAINS } from '../gateway/routes/index.ts';
import { mkdirSync, existsSync } from 'node:fs';
import pg from 'pg';
import { loadGwConfig } from '../domains/gw/config.ts';
import { loadStagingConfig } from '../domains/staging/config.ts';
import { finderOf, loadIngestConfig } from '../domains/ingest/config.ts';

export interface SystemParts { gateway: boolean; consumers: (all: ConsumerSpec[]) => ConsumerSpec[]; services?: boolean }

export interface RunningSystem { config: Config; platform: Platform; app: App | null; replies: ReplyListener | null; url: string | null; availability: Availability; close(): Promise<void> }

/** The optional dependencies of the domains: ivoa needs pgSphere (projection and routes), and DaCHS for TAP. */
export function domainProbes(platform: Platform, env: Env, opts: { tap: boolean; log?: (m: string) => void }): Probe[] {
  const probes = [pgSphereProbe(platform.db, env)];
  if (opts.tap) probes.push({ name: 'ivoa.tap', check: () => serveTapFor(platform.config.databaseUrl, opts.log) });
  return probes;
}

/** For `dbb status` (no running system needed): each domain → 'up' or what is missing. */
export async function domainAvailability(config: Config, env: Env): Promise<Record<string, string>> {
  const db = new pg.Pool({ connectionString: config.databaseUrl, max: 1 });
  try {
    const availability = await runProbes([pgSphereProbe(db, env), { name: 'ivoa.tap', check: checkTapRunning }]);
    return availability.snapshot([...DOMAINS, 'ivoa.tap']);
  } finally {
    await db.end();
  }
}

/** The directories the defaults point at (GW buffer, staging storage and user areas, the ingest finder's
 *  buffer and storage when configured), so a first request finds them; returns the ones it created. */
export function createDefaultDirs(env: Env, config: Config): string[] {
  const dirs = [loadGwConfig(config, env).dataDir];
  loadStagingConfig(env); // creates the default storage root and user-area parent itself
  if (env.INGEST_CONFIG) {
    const ingest = loadIngestConfig(env);
    if (ingest.finder) dirs.push(finderOf(ingest).source, finderOf(ingest).storage);
  }
  return dirs.filter((d) => !existsSync(d)).map((d) => { mkdirSync(d, { recursive: true }); return d; });
}

/** The domain a consumer belongs to: `projection.ivoa` → `ivoa`. */
const domainOf = (spec: ConsumerSpec) => spec.name.split('.')[1] ?? spec.name;

export function allConsumers(platform: Platform): ConsumerSpec[] {
  return [...createProcessors(platform.domainDeps), ...createProjections(platform.domainDeps)];
}

/** service.name of the spans when OTEL_SERVICE_NAME is not set: what the process runs. */
function serviceNameOf(parts: SystemParts, consumers: ConsumerSpec[]): string {
  if (parts.gateway) return consumers.length ? 'dbb' : 'dbb-gateway';
  return consumers.length === 1 && !parts.services ? `dbb-${consumers[0]!.name}` : 'dbb-workers';
}

export async function startSystem(env: Env, log: Logger, parts: SystemParts): Promise<RunningSystem> {
  const config = loadConfig(env);
  const ops = loadOpsConfig(env);
  const platform = await startPlatform(config, { env, log, source: parts.gateway ? 'gateway' : 'worker' });
  const chosen = parts.consumers(allConsumers(platform));
  const tracing = initTracing(env, ops.serviceName || serviceNameOf(parts, chosen));
  if (tracing.enabled) log.info('tracing: spans exported over OTLP/HTTP');
  const availability = await runProbes(domainProbes(platform, env, { tap: parts.gateway, log: (m) => log.info(m) }));
  for (const [name, reason] of Object.entries(availability.snapshot([]))) log.warn({ domain: name }, `${name} unavailable: ${reason}`);
  for (const spec of chosen) {
    if (availability.reasonFor(domainOf(spec))) continue;
    await platform.startConsumer(spec);
    log.info({ consumer: spec.name }, 'consumer started');
  }
  const closers: (() => Promise<void>)[] = [];
  if (parts.services) {
    for (const svc of createServices()) {
      const running = await svc.start(platform);
      closers.push(() => running.stop());
      log.info({ service: svc.name }, 'service started');
    }
  }
  let app: App | null = null;
  let replies: ReplyListener | null = null;
  let url: string | null = null;
  if (parts.gateway) {
    replies = await startReplyListener({ config, kafka: platform.kafka, serde: platform.serde, appender: platform.appender, log });
    const admin = platform.kafka.admin();
    await admin.connect();
    app = await buildApp({ config, env, db: platform.db, appender: platform.appender, replies, auth: createAuth(config), log, availability }, {
      readiness: {
        postgres: () => platform.db.query('SELECT 1'),
        kafka: () => admin.describeCluster(),
        registry: async () => { const r = await fetch(`${config.registryUrl}/subjects`); if (!r.ok) throw new Error(`registry answered ${r.status}`); },
      },
    });
    closers.push(() => admin.disconnect());
    url = await app.listen({ host: config.host, port: config.port });
  }
  const opsServer = parts.gateway ? null : await serveOps(platform, env, log);
  if (opsServer) closers.unshift(() => opsServer.close());
  if (app || opsServer) {
    const lagTimer = setInterval(() => {
      consumerLag(platform).then((ls) => { for (const l of ls) metrics.consumerLag.set({ group: l.group }, l.lag); }).catch(() => {});
    }, 15_000);
    lagTimer.unref();
    closers.push(async () => clearInterval(lagTimer));
  }
  return {
    config, platform, app, replies, url, availability,
    async close() {
      await app?.close();
      await replies?.stop();
      for (const c of closers) await c().catch(() => {});
      await platform.close();
      await tracing.shutdown();
    },
  };
}

// Starts a whole Data Backbone process: platform, the chosen processors/projections, and optionally
// the gateway. `dbb up` runs everything in one process; `dbb run <part>` runs one part alone.
import type { Logger } from 'pino';
import { loadConfig, type Config, type Env } from '../platform/config.ts';
import { startPlatform, type Platform } from '../platform/runtime.ts';
import { startReplyListener, type ReplyListener } from '../platform/request-reply.ts';
import { createProcessors, createServices } from '../processors/index.ts';
import { createProjections } from '../projections/index.ts';
import { buildApp } from '../gateway/app.ts';
import { createAuth } from '../gateway/plugins/auth.ts';
import type { App } from '../gateway/types.ts';
import type { ConsumerSpec } from '../platform/types.ts';
import { metrics } from '../platform/metrics.ts';
import { consumerLag } from './inspect.ts';

export interface SystemParts { gateway: boolean; consumers: (all: ConsumerSpec[]) => ConsumerSpec[]; services?: boolean }

export interface RunningSystem { config: Config; platform: Platform; app: App | null; replies: ReplyListener | null; url: string | null; close(): Promise<void> }

export function allConsumers(platform: Platform): ConsumerSpec[] {
  return [...createProcessors(platform.domainDeps), ...createProjections(platform.domainDeps)];
}

export async function startSystem(env: Env, log: Logger, parts: SystemParts): Promise<RunningSystem> {
  const config = loadConfig(env);
  const platform = await startPlatform(config, { env, log, source: parts.gateway ? 'gateway' : 'worker' });
  for (const spec of parts.consumers(allConsumers(platform))) {
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
    app = await buildApp({ config, env, db: platform.db, appender: platform.appender, replies, auth: createAuth(config), log }, {
      readiness: {
        postgres: () => platform.db.query('SELECT 1'),
        kafka: () => admin.describeCluster(),
        registry: async () => { const r = await fetch(`${config.registryUrl}/subjects`); if (!r.ok) throw new Error(`registry answered ${r.status}`); },
      },
    });
    closers.push(() => admin.disconnect());
    const lagTimer = setInterval(() => {
      consumerLag(config).then((ls) => { for (const l of ls) metrics.consumerLag.set({ group: l.group }, l.lag); }).catch(() => {});
    }, 15_000);
    lagTimer.unref();
    closers.push(async () => clearInterval(lagTimer));
    url = await app.listen({ host: config.host, port: config.port });
  }
  return {
    config, platform, app, replies, url,
    async close() {
      await app?.close();
      await replies?.stop();
      for (const c of closers) await c().catch(() => {});
      await platform.close();
    },
  };
}

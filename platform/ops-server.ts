// The operations endpoint of a process without the gateway (`dbb run processor|projection|workers`):
// GET /metrics (Prometheus, this process's registry), /healthz (200 while every consumer runs, 503 once
// one has stopped for good) and /readyz (Postgres, Kafka reachable). Off unless DBB_METRICS_PORT is set:
// several workers on one host each need their own port (docs/deploy.md, "Observability").
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Type } from '@sinclair/typebox';
import type { Logger } from 'pino';
import { key, parseEnv, type Env } from './config.ts';
import { registry } from './metrics.ts';
import type { Platform } from './runtime.ts';

export const OPS_KEYS = {
  metricsPort: key('DBB_METRICS_PORT', Type.Integer({ minimum: 0, maximum: 65535 }), 'port of /metrics, /healthz and /readyz in a process without the gateway (dbb run processor|projection|workers); 0 = off. The gateway serves them on DBB_PORT', 0),
  metricsHost: key('DBB_METRICS_HOST', Type.String(), 'listen address of DBB_METRICS_PORT', '127.0.0.1'),
  otlpEndpoint: key('OTEL_EXPORTER_OTLP_ENDPOINT', Type.String({ pattern: '^(https?://.*)?$' }), 'OpenTelemetry collector base URL, OTLP/HTTP (JSON); /v1/traces is appended (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT names the full URL instead); empty = tracing off', ''),
  serviceName: key('OTEL_SERVICE_NAME', Type.String(), 'service.name of the spans; default: dbb (dbb up), dbb-gateway, dbb-<consumer> (one consumer) or dbb-workers', ''),
};

export const loadOpsConfig = (env: Env) => parseEnv(OPS_KEYS, env);

export interface OpsServer { url: string; close(): Promise<void> }

export interface OpsOptions {
  host: string;
  port: number;
  /** false once a part of the process has stopped for good (a consumer kafkajs will not restart) */
  healthy: () => { ok: boolean; detail: Record<string, string> };
  /** name → throws when that dependency is unreachable */
  readiness: Record<string, () => Promise<unknown>>;
  /** per readiness check, ms */
  checkTimeoutMs?: number;
}

const json = (res: ServerResponse, status: number, body: unknown) => {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
};

async function check(fn: () => Promise<unknown>, ms: number): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([fn(), new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`no answer in ${ms} ms`)), ms); })]);
    return 'ok';
  } catch (err) {
    return (err as Error).message;
  } finally {
    clearTimeout(timer);
  }
}

export async function startOpsServer(opts: OpsOptions): Promise<OpsServer> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') return json(res, 405, { error: 'GET only' });
    if (path === '/metrics') {
      registry.metrics().then(
        (text) => { res.writeHead(200, { 'content-type': registry.contentType }).end(text); },
        (err: Error) => json(res, 500, { error: err.message }),
      );
    } else if (path === '/healthz') {
      const h = opts.healthy();
      json(res, h.ok ? 200 : 503, { status: h.ok ? 'ok' : 'failed', consumers: h.detail });
    } else if (path === '/readyz') {
      const names = Object.keys(opts.readiness);
      Promise.all(names.map((n) => check(opts.readiness[n]!, opts.checkTimeoutMs ?? 3000))).then((results) => {
        const checks = Object.fromEntries(names.map((n, i) => [n, results[i]!]));
        const ok = results.every((r) => r === 'ok');
        json(res, ok ? 200 : 503, { status: ok ? 'ready' : 'not ready', checks });
      });
    } else json(res, 404, { error: 'not found: /metrics, /healthz, /readyz' });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => { server.off('error', reject); resolve(); });
  });
  const { address, port } = server.address() as AddressInfo;
  return {
    url: `http://${address.includes(':') ? `[${address}]` : address}:${port}`,
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

/** The ops server of a process without the gateway, on DBB_METRICS_PORT (null when 0): healthy while
 *  every consumer of `platform` runs, ready while Postgres and Kafka answer. */
export async function serveOps(platform: Pick<Platform, 'kafka' | 'db' | 'consumers'>, env: Env, log: Logger): Promise<OpsServer | null> {
  const ops = loadOpsConfig(env);
  if (ops.metricsPort === 0) return null;
  const admin = platform.kafka.admin();
  await admin.connect();
  try {
    const server = await startOpsServer({
      host: ops.metricsHost, port: ops.metricsPort,
      healthy: () => ({
        ok: platform.consumers.every((c) => c.failure() === null),
        detail: Object.fromEntries(platform.consumers.map((c) => [c.name, c.failure() ?? 'running'])),
      }),
      readiness: { postgres: () => platform.db.query('SELECT 1'), kafka: () => admin.describeCluster() },
    });
    log.info({ url: server.url }, 'metrics and health at /metrics, /healthz, /readyz');
    return { url: server.url, close: async () => { await server.close(); await admin.disconnect().catch(() => {}); } };
  } catch (err) {
    await admin.disconnect().catch(() => {});
    throw err;
  }
}

// buildApp(deps): the Fastify gateway — errors, auth, OpenAPI (/docs), health, metrics, and every
// domain's routes as an encapsulated plugin. Only the CLI calls listen(); tests use inject().
import Fastify from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { Logger } from 'pino';
import { errorsPlugin, problem, sendProblem, toProblem } from './plugins/errors.ts';
import { registry as metricsRegistry, metrics } from '../platform/metrics.ts';
import { serializeRequest } from '../platform/log.ts';
import { DOMAIN_ROUTES } from './routes/index.ts';
import { eventsRoutes } from './routes/events.ts';
import type { App, GatewayDeps } from './types.ts';

export interface BuildOptions {
  /** Readiness checks for /readyz: name → throws when the part is unreachable. */
  readiness?: Record<string, () => Promise<unknown>>;
  logger?: Logger;
}

export async function buildApp(deps: GatewayDeps, opts: BuildOptions = {}): Promise<App> {
  const app = Fastify({
    loggerInstance: (opts.logger ?? deps.log).child({ component: 'gateway' }, { serializers: { req: serializeRequest } }),
    bodyLimit: deps.config.bodyLimit,
    genReqId: () => crypto.randomUUID(),
    // errors Fastify raises before routing (over-long path parameters, bad URLs) are problems too
    frameworkErrors: (err, req, reply) => { void sendProblem(reply, toProblem(err, req)); },
    ajv: { customOptions: { coerceTypes: 'array', removeAdditional: false, allErrors: false } },
  }).withTypeProvider<TypeBoxTypeProvider>();

  app.decorateRequest('principal', null);
  await app.register(errorsPlugin);
  await app.register(swagger, {
    openapi: {
      info: { title: 'Data Backbone gateway', version: '0.1.0', description: 'Seed-compatible routes and /api/v1 for gw, staging, tape, ingest and ivoa.' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });

  // Ajv coerces 1e309 to Infinity, which then passes min/max checks: refuse non-finite numbers up front.
  app.addHook('preValidation', async (req, reply) => {
    if ((req.routeOptions.config as { nonFiniteNumbers?: boolean } | undefined)?.nonFiniteNumbers) return;
    const q = req.query as Record<string, unknown> | undefined;
    for (const v of Object.values(q ?? {})) {
      if (typeof v === 'string' && /^[-+]?(inf|infinity|nan)$/i.test(v.trim())) {
        return sendProblem(reply, problem(400, 'DBB_VALIDATION', 'numbers must be finite'));
      }
    }
  });
  app.addHook('onResponse', async (req, reply) => {
    metrics.httpRequests.inc({ route: req.routeOptions.url ?? 'unknown', status: String(reply.statusCode) });
  });

  app.get('/healthz', { schema: { hide: true } }, async () => ({ status: 'ok' }));
  app.get('/readyz', { schema: { hide: true } }, async (_req, reply) => {
    const checks: Record<string, string> = {};
    let ok = true;
    await Promise.all(Object.entries(opts.readiness ?? {}).map(async ([name, check]) => {
      try { await check(); checks[name] = 'ok'; } catch (err) { ok = false; checks[name] = (err as Error).message; }
    }));
    return reply.code(ok ? 200 : 503).send({ status: ok ? 'ready' : 'not ready', checks });
  });
  app.get('/metrics', { schema: { hide: true } }, async (_req, reply) => {
    return reply.type(metricsRegistry.contentType).send(await metricsRegistry.metrics());
  });
  app.get('/api/v1/whoami', {
    schema: { response: { 200: Type.Object({ name: Type.String(), role: Type.String() }) } },
    onRequest: deps.auth.require('reader'),
  }, async (req) => ({ name: req.principal!.name, role: req.principal!.role }));

  for (const { name, plugin } of [{ name: 'events', plugin: eventsRoutes }, ...DOMAIN_ROUTES]) {
    await app.register(async (scope) => plugin(scope as unknown as App, deps), { name } as never);
  }
  await app.ready();
  return app as unknown as App;
}

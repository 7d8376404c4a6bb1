// buildApp(deps): the Fastify gateway — errors, auth, OpenAPI (/docs), health, metrics, and every
// domain's routes as an encapsulated plugin. Only the CLI calls listen(); tests use inject().
import Fastify, { type FastifyRequest } from 'fastify';
import { AjvCompiler } from '@fastify/ajv-compiler';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { OptionalKind, Type } from '@sinclair/typebox';
import type { Logger } from 'pino';
import { errorsPlugin, problem, sendProblem, toProblem } from './plugins/errors.ts';
import { BadRequestError } from '../platform/errors.ts';
import { observabilityPlugin } from './plugins/observability.ts';
import { registry as metricsRegistry } from '../platform/metrics.ts';
import { serializeRequest } from '../platform/log.ts';
import { DOMAIN_ROUTES, DOMAINS } from './routes/index.ts';
import { eventsRoutes } from './routes/events.ts';
import type { App, GatewayDeps } from './types.ts';

/** Largest body of every route but the GW chunk uploads (their own `bodyLimit`), bytes. */
export const CONTROL_BODY_LIMIT = 1024 * 1024;

const AJV_OPTIONS = { removeAdditional: false, useDefaults: true, allErrors: false } as const;

/**
 * Two Ajv instances keyed on the request part: querystring, params and headers are strings on the wire
 * and are coerced ('1' → 1, 'a' → ['a']); a JSON body already has its types and is validated as sent
 * (a string is never a one-item list, `"1"` never a number, null never an object).
 */
function partAwareValidators() {
  const pool = AjvCompiler();
  return {
    buildValidator(external: Record<string, unknown>, server: { customOptions?: object; plugins?: unknown[] } = {}) {
      const coercing = pool(external as never, { ...server, customOptions: { ...server.customOptions, ...AJV_OPTIONS, coerceTypes: 'array' } } as never);
      const strict = pool(external as never, { ...server, customOptions: { ...server.customOptions, ...AJV_OPTIONS, coerceTypes: false } } as never);
      return (route: { httpPart?: string; schema: object }) => (route.httpPart === 'body' ? strict : coercing)(route as never);
    },
  };
}

/** A JSON body schema that allows the body to be left out (TypeBox `Type.Optional(Type.Object(...))`). */
const bodyOptional = (req: FastifyRequest) => {
  const body = req.routeOptions.schema?.body as Record<PropertyKey, unknown> | undefined;
  return body?.[OptionalKind] === 'Optional';
};
/** The route takes a JSON body (a schema, not a per-content-type map such as /streamdata's). */
const jsonBodyRoute = (req: FastifyRequest) => {
  const body = req.routeOptions.schema?.body as Record<string, unknown> | undefined;
  return !!body && !('content' in body);
};

/** Whether a parsed JSON value has a string (or an object key) containing NUL. */
function holdsNul(v: unknown): boolean {
  if (typeof v === 'string') return v.includes('\0');
  if (Array.isArray(v)) return v.some(holdsNul);
  if (v && typeof v === 'object') return Object.entries(v).some(([k, x]) => k.includes('\0') || holdsNul(x));
  return false;
}

export interface BuildOptions {
  /** Readiness checks for /readyz: name → throws when the part is unreachable. */
  readiness?: Record<string, () => Promise<unknown>>;
  logger?: Logger;
}

export async function buildApp(deps: GatewayDeps, opts: BuildOptions = {}): Promise<App> {
  const app = Fastify({
    loggerInstance: (opts.logger ?? deps.log).child({ component: 'gateway' }, { serializers: { req: serializeRequest } }),
    // control and seed routes; the GW chunk upload routes set their own, larger bodyLimit
    bodyLimit: Math.min(deps.config.bodyLimit, CONTROL_BODY_LIMIT),
    genReqId: () => crypto.randomUUID(),
    // errors Fastify raises before routing (over-long path parameters, bad URLs) are problems too
    frameworkErrors: (err, req, reply) => { void sendProblem(reply, toProblem(err, req)); },
    schemaController: { compilersFactory: partAwareValidators() as never },
  }).withTypeProvider<TypeBoxTypeProvider>();

  app.decorateRequest('principal', null);
  // Postgres text cannot hold NUL (U+0000): an event carrying one would be accepted here and then be
  // unstorable by every projection, so JSON bodies with a NUL in a string or a name are refused up front
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
    parseJson(req, body as string, (err: Error | null, value?: unknown) => {
      if (err) return done(err);
      if ((body as string).includes('\\u0000') && holdsNul(value)) return done(new BadRequestError('DBB_VALIDATION', 'text must not contain NUL (U+0000)'));
      done(null, value);
    });
  });
  await app.register(errorsPlugin);
  await app.register(observabilityPlugin);
  await app.register(swagger, {
    openapi: {
      info: { title: 'Data Backbone gateway', version: '0.1.0', description: 'Seed-compatible routes and /api/v1 for gw, staging, tape, ingest and ivoa.' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });

  // Ajv coerces 1e309 to Infinity, which then passes min/max checks: refuse non-finite numbers up front.
  // NUL as in JSON bodies (above). Path parameters are always checked.
  app.addHook('preValidation', async (req, reply) => {
    if (holdsNul(req.params)) return sendProblem(reply, problem('DBB_VALIDATION', 'text must not contain NUL (U+0000)'));
    if (req.routeOptions.config?.ownQueryErrors) return;
    const q = req.query as Record<string, unknown> | undefined;
    for (const v of Object.values(q ?? {})) {
      if (typeof v === 'string' && /^[-+]?(inf|infinity|nan)$/i.test(v.trim())) {
        return sendProblem(reply, problem('DBB_VALIDATION', 'numbers must be finite'));
      }
    }
    if (holdsNul(q)) return sendProblem(reply, problem('DBB_VALIDATION', 'text must not contain NUL (U+0000)'));
  });
  // A route with a JSON body schema gets a JSON body: no body at all, or `null`, is a 400 (Fastify
  // would validate a missing body as null, and a route's own preValidation hook could default it).
  // Runs before every route-level hook. Only a schema marked Optional may be left out (not nulled).
  app.addHook('preValidation', async (req, reply) => {
    if (!jsonBodyRoute(req)) return;
    // a raw body (a content type parsed as bytes, e.g. octet-stream in the gw scope) is no JSON object,
    // though Ajv would take a Buffer for one
    if (Buffer.isBuffer(req.body) || req.body instanceof Uint8Array) {
      return sendProblem(reply, problem('DBB_UNSUPPORTED_MEDIA_TYPE', `${req.method} ${req.routeOptions.url} takes application/json`));
    }
    if (req.body === null || (req.body === undefined && !bodyOptional(req))) {
      return sendProblem(reply, problem('DBB_VALIDATION', `${req.method} ${req.routeOptions.url} needs a JSON object body`));
    }
    if (req.body === undefined) req.body = {};
  });

  app.get('/healthz', { schema: { hide: true } }, async () => ({ status: 'ok' }));
  app.get('/readyz', { schema: { hide: true } }, async (_req, reply) => {
    const checks: Record<string, string> = {};
    let ok = true;
    await Promise.all(Object.entries(opts.readiness ?? {}).map(async ([name, check]) => {
      try { await check(); checks[name] = 'ok'; } catch (err) { ok = false; checks[name] = (err as Error).message; }
    }));
    // a domain whose optional dependency is missing leaves the gateway ready (every other domain serves)
    const domains = deps.availability?.snapshot(DOMAINS) ?? {};
    const status = !ok ? 'not ready' : deps.availability?.anyDown ? 'degraded' : 'ready';
    return reply.code(ok ? 200 : 503).send({ status, checks, domains });
  });
  app.get('/metrics', { schema: { hide: true } }, async (_req, reply) => {
    return reply.type(metricsRegistry.contentType).send(await metricsRegistry.metrics());
  });
  app.get('/api/v1/whoami', {
    schema: { response: { 200: Type.Object({ name: Type.String(), role: Type.String(), user: Type.Optional(Type.String({ description: 'the user a bound token acts for (absent: any user)' })) }) } },
    onRequest: deps.auth.require('reader'),
  }, async (req) => ({ name: req.principal!.name, role: req.principal!.role, ...(req.principal!.user ? { user: req.principal!.user } : {}) }));

  for (const { name, plugin } of [{ name: 'events', plugin: eventsRoutes }, ...DOMAIN_ROUTES]) {
    await app.register(async (scope) => {
      scope.addHook('onRequest', async (req, reply) => {
        const reason = deps.availability?.reasonFor((req.routeOptions.config as { requires?: string }).requires ?? name);
        if (reason) return sendProblem(reply, problem('DBB_DOMAIN_UNAVAILABLE', reason));
      });
      await plugin(scope as unknown as App, deps);
    }, { name } as never);
  }
  await app.ready();
  return app as unknown as App;
}

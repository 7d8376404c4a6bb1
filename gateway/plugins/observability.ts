// Gateway metrics and tracing: every answer is counted and timed per route (dbb_http_requests_total,
// dbb_http_request_duration_seconds); with tracing on, each request gets a server span (child of an
// incoming traceparent) that is active while the route runs, so the events it appends carry it.
import fp from 'fastify-plugin';
import type { FastifyRequest } from 'fastify';
import { ATTR_HTTP_REQUEST_METHOD, ATTR_HTTP_RESPONSE_STATUS_CODE, ATTR_HTTP_ROUTE, ATTR_URL_PATH } from '@opentelemetry/semantic-conventions';
import { metrics } from '../../platform/metrics.ts';
import { contextFromHeaders, SpanKind, SpanStatusCode, startSpan, tracingOn, withContext, type Context, type Span } from '../../platform/tracing.ts';

/** The route pattern (not the path: bounded label values); 'unknown' for requests no route matched. */
const routeOf = (req: FastifyRequest) => req.routeOptions.url ?? 'unknown';

export const observabilityPlugin = fp(async (app) => {
  app.addHook('onResponse', async (req, reply) => {
    const route = routeOf(req);
    const status = String(reply.statusCode);
    metrics.httpRequests.inc({ route, status });
    metrics.httpSeconds.observe({ route, method: req.method, status }, reply.elapsedTime / 1000);
  });
  if (!tracingOn()) return;

  const spans = new WeakMap<FastifyRequest, { span: Span; ctx: Context }>();
  app.addHook('onRequest', (req, _reply, done) => {
    const route = routeOf(req);
    const t = startSpan(`${req.method} ${route}`, contextFromHeaders(req.headers), {
      [ATTR_HTTP_REQUEST_METHOD]: req.method, [ATTR_HTTP_ROUTE]: route, [ATTR_URL_PATH]: req.url.split('?')[0],
    }, SpanKind.SERVER);
    spans.set(req, t);
    withContext(t.ctx, done);
  });
  // the body is parsed outside the request's async context (stream events): enter it again for the handler
  app.addHook('preHandler', (req, _reply, done) => withContext(spans.get(req)?.ctx, done));
  app.addHook('onResponse', async (req, reply) => {
    const t = spans.get(req);
    if (!t) return;
    t.span.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, reply.statusCode);
    if (reply.statusCode >= 500) t.span.setStatus({ code: SpanStatusCode.ERROR });
    t.span.end();
  });
});

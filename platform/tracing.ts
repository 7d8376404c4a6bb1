// OpenTelemetry tracing: set up only when an OTLP endpoint is configured (OTEL_EXPORTER_OTLP_ENDPOINT or
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT); otherwise the API's no-op tracer stays in place and every helper
// here returns at once, adding no header and no span. Trace context (W3C traceparent) rides in Kafka
// record headers, and in the outbox row's headers column on the way there.
import { context, propagation, trace, ROOT_CONTEXT, SpanKind, SpanStatusCode, type Attributes, type Context, type Span, type TextMapGetter, type TextMapSetter } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';
import type { IHeaders } from 'kafkajs';
import type { Env } from './config.ts';

export { SpanKind, SpanStatusCode, type Context, type Span };

let enabled = false;
let provider: TracerProvider | null = null;

/** True once `initTracing` found an endpoint: the hooks that cost something check this first. */
export const tracingOn = () => enabled;

export interface Tracing { enabled: boolean; flush(): Promise<void>; shutdown(): Promise<void> }

/** The OTLP/HTTP traces URL the env names, or null (tracing off). */
export function otlpTracesUrl(env: Env): string | null {
  if (env.OTEL_SDK_DISABLED === 'true' || env.OTEL_TRACES_EXPORTER === 'none') return null;
  if (env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) return env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT;
  if (env.OTEL_EXPORTER_OTLP_ENDPOINT) return `${env.OTEL_EXPORTER_OTLP_ENDPOINT.replace(/\/+$/, '')}/v1/traces`;
  return null;
}

/** Registers the global tracer provider (OTLP/HTTP JSON exporter, batched), the AsyncLocalStorage
 *  context manager and the W3C propagator, once per process; a no-op without an endpoint. */
export function initTracing(env: Env, serviceName: string): Tracing {
  const url = otlpTracesUrl(env);
  if (!url || provider) return { enabled, flush: async () => { await provider?.forceFlush(); }, shutdown: async () => {} };
  provider = new TracerProvider({
    resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: env.OTEL_SERVICE_NAME || serviceName }),
    spanProcessors: [new BatchSpanProcessor({ exporter: new OTLPTraceExporter({ url }), scheduledDelayMillis: 1000 })],
  });
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(provider);
  enabled = true;
  const p = provider;
  return {
    enabled: true,
    flush: () => p.forceFlush(),
    async shutdown() {
      await p.shutdown().catch(() => {});
      trace.disable();
      context.disable();
      propagation.disable();
      provider = null;
      enabled = false;
    },
  };
}

export const tracer = () => trace.getTracer('dbb');

const headerGetter: TextMapGetter<IHeaders> = {
  keys: (h) => Object.keys(h),
  get: (h, k) => { const v = h[k]; return v === undefined ? undefined : Array.isArray(v) ? v.map(String) : v.toString(); },
};
const headerSetter: TextMapSetter<IHeaders> = { set: (h, k, v) => { h[k] = v; } };

/** traceparent (+ tracestate) of `ctx` (default: the active context) as record headers; {} when off. */
export function traceHeaders(ctx?: Context): IHeaders {
  if (!enabled) return {};
  const h: IHeaders = {};
  propagation.inject(ctx ?? context.active(), h, headerSetter);
  return h;
}

/** The remote parent a record's headers carry (ROOT_CONTEXT when none). */
export function contextFromHeaders(headers: IHeaders | undefined): Context {
  return headers ? propagation.extract(ROOT_CONTEXT, headers, headerGetter) : ROOT_CONTEXT;
}

/** Starts a span under `parent` and returns it with the context that has it active. */
export function startSpan(name: string, parent: Context, attributes: Attributes, kind = SpanKind.INTERNAL): { span: Span; ctx: Context } {
  const span = tracer().startSpan(name, { kind, attributes }, parent);
  return { span, ctx: trace.setSpan(parent, span) };
}

/** Runs `fn` in a child span of `parent` (default: active) when tracing is on; plain `fn()` otherwise. */
export async function inSpan<T>(name: string, attributes: Attributes, fn: () => Promise<T>, parent?: Context): Promise<T> {
  if (!enabled) return fn();
  const { span, ctx } = startSpan(name, parent ?? context.active(), attributes);
  try {
    return await context.with(ctx, fn);
  } catch (err) {
    failSpan(span, err);
    throw err;
  } finally {
    span.end();
  }
}

/** A zero-length span under the traceparent of a record's headers (tracing on only): marks a moment,
 *  e.g. the gateway seeing the reply it waited for. */
export function markSpan(name: string, headers: IHeaders | undefined, attributes: Attributes, kind = SpanKind.CONSUMER) {
  if (enabled) startSpan(name, contextFromHeaders(headers), attributes, kind).span.end();
}

export function failSpan(span: Span, err: unknown) {
  span.recordException(err instanceof Error ? err : new Error(String(err)));
  span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
}

/** `fn` with `ctx` active (AsyncLocalStorage), or just `fn()` when tracing is off or there is no ctx. */
export function withContext<T>(ctx: Context | undefined, fn: () => T): T {
  return enabled && ctx ? context.with(ctx, fn) : fn();
}

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { trace } from '@opentelemetry/api';
import { contextFromHeaders, initTracing, otlpTracesUrl, startSpan, traceHeaders, tracingOn, SpanKind, type Tracing } from './tracing.ts';

describe('otlpTracesUrl', () => {
  it.each([
    [{}, null],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' }, 'http://c:4318/v1/traces'],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318/' }, 'http://c:4318/v1/traces'],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://t/x' }, 'http://t/x'],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_SDK_DISABLED: 'true' }, null],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_TRACES_EXPORTER: 'none' }, null],
  ])('given %j, then %s', (env, url) => {
    expect(otlpTracesUrl(env)).toBe(url);
  });
});

describe('tracing off', () => {
  it('given no endpoint, when headers are asked for, then tracing is off and none are added', () => {
    const t = initTracing({}, 'unit');
    expect(t.enabled).toBe(false);
    expect(tracingOn()).toBe(false);
    expect(traceHeaders()).toEqual({});
  });
});

describe('trace context in record headers', () => {
  // port 9 (discard) on loopback: nothing is exported in these tests, and nothing leaves the machine
  let on: Tracing;
  beforeAll(() => { on = initTracing({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9' }, 'unit'); });
  afterAll(() => on.shutdown());

  it('given a span, when its context is written to headers and read back (as kafkajs gives them: Buffers), then the remote parent is that span', () => {
    const { span, ctx } = startSpan('parent', contextFromHeaders(undefined), {}, SpanKind.SERVER);
    const headers = traceHeaders(ctx);
    const sc = span.spanContext();
    expect(headers).toEqual({ traceparent: `00-${sc.traceId}-${sc.spanId}-01` });
    const back = trace.getSpanContext(contextFromHeaders({ traceparent: Buffer.from(String(headers.traceparent)), other: Buffer.from('x') }));
    expect(back).toMatchObject({ traceId: sc.traceId, spanId: sc.spanId, isRemote: true });
    const child = startSpan('child', contextFromHeaders(headers), {}, SpanKind.CONSUMER).span;
    expect(child.spanContext().traceId).toBe(sc.traceId);
    span.end();
    child.end();
  });

  it('given a record without a traceparent, when read, then there is no parent', () => {
    expect(trace.getSpanContext(contextFromHeaders({ 'dbb-event': Buffer.from('X') }))).toBeUndefined();
  });
});

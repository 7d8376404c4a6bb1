// One trace from the gateway to the projection: a staging request over HTTP, with tracing exported to
// an OTLP/HTTP receiver on 127.0.0.1, gives one traceId holding the gateway's server span, the staging
// processor's consumer span, its effect, the reply the gateway waited for and the staging projection's
// spans, each parented as the request travelled (through Kafka headers and the outbox).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { eventually, type TestStack } from './support/stack.ts';
import { makeSite, startStagingStack, type Site } from './staging/fixture.ts';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from './support/otlp-receiver.ts';
import { initTracing, type Tracing } from '../platform/tracing.ts';
import { createStagingProcessor } from '../processors/staging/index.ts';
import { createStagingProjection } from '../projections/staging/index.ts';

let site: Site;
let stack: TestStack;
let receiver: OtlpReceiver;
let tracing: Tracing;
let url: string;

beforeAll(async () => {
  receiver = await startOtlpReceiver();
  tracing = initTracing({ OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url }, 'dbb-trace-test');
  site = makeSite();
  stack = await startStagingStack({ consumers: (deps) => [createStagingProcessor(deps), createStagingProjection(deps)], env: site.env });
  url = await stack.listen();
});

afterAll(async () => {
  await stack?.stop();
  await tracing?.shutdown();
  await receiver?.close();
  site?.cleanup();
});

const one = (spans: ReceivedSpan[], name: string) => {
  const found = spans.filter((s) => s.name === name);
  expect(found.map((s) => s.name), `spans named ${name}`).toEqual([name]);
  return found[0]!;
};

describe('tracing', () => {
  it('follows a staging request from the gateway through the processor and its effect to the projection', async () => {
    expect(tracing.enabled).toBe(true);
    const headers = { ...stack.auth('producer'), 'content-type': 'application/json' };
    const res = await fetch(`${url}/stage_data?method=local_copy&username=alice`, {
      method: 'POST', headers, body: JSON.stringify({ local_path_on_storage: join(site.root, 'obs', 'f.dat'), relative_path: 'traced/f.dat' }),
    });
    expect(res.status).toBe(200);
    const { request_id: requestId } = await res.json() as { request_id: string };
    await eventually(async () => {
      const r = await fetch(`${url}/api/v1/staging/requests/${requestId}`, { headers: stack.auth('reader') });
      expect((await r.json() as { status: string }).status).toBe('SUCCESS');
    });

    const trace = await eventually(async () => {
      await tracing.flush();
      const gateway = receiver.spans.filter((s) => s.name === 'POST /stage_data');
      expect(gateway).toHaveLength(1);
      const spans = receiver.spans.filter((s) => s.traceId === gateway[0]!.traceId);
      // the projection folds both the request and the outcome; the reply is seen by the gateway
      expect(spans.map((s) => s.name)).toEqual(expect.arrayContaining(['projection.staging StagingRequested', 'projection.staging FileStaged', 'reply FileStaged']));
      return spans;
    }, { timeoutMs: 20_000, intervalMs: 300 });

    const gateway = one(trace, 'POST /stage_data');
    const processor = one(trace, 'processor.staging StagingRequested');
    const effect = one(trace, 'effect local_copy');
    const projected = one(trace, 'projection.staging FileStaged');
    const projectedRequest = one(trace, 'projection.staging StagingRequested');
    const reply = one(trace, 'reply FileStaged');

    expect(gateway.parentSpanId).toBe('');
    expect(gateway.attributes).toMatchObject({ 'http.request.method': 'POST', 'http.route': '/stage_data', 'http.response.status_code': 200 });
    // the request event carried the gateway's traceparent; the outcome, through the outbox, the processor's
    expect(processor.parentSpanId).toBe(gateway.spanId);
    expect(processor.attributes).toMatchObject({ 'dbb.consumer': 'processor.staging', 'dbb.correlation_id': requestId, 'messaging.system': 'kafka' });
    expect(effect.parentSpanId).toBe(processor.spanId);
    expect(projectedRequest.parentSpanId).toBe(gateway.spanId);
    expect(projected.parentSpanId).toBe(processor.spanId);
    expect(reply.parentSpanId).toBe(processor.spanId);
    expect(new Set(trace.map((s) => s.service))).toEqual(new Set(['dbb-trace-test']));
  });
});

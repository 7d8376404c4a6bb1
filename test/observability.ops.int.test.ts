// Metrics and health of every process: `dbb run processor staging` (a child process) serves /healthz,
// /readyz and /metrics with its consumer and effect metrics on DBB_METRICS_PORT; the gateway's /metrics
// has the per-route latency histogram once a request was answered; with both processes exporting to one
// OTLP receiver, the worker's spans continue the gateway's trace.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { eventually, type TestStack } from './support/stack.ts';
import { freePort } from './support/dbb-up.ts';
import { makeSite, startStagingStack, type Site } from './staging/fixture.ts';
import { startOtlpReceiver, type OtlpReceiver } from './support/otlp-receiver.ts';
import { initTracing, type Tracing } from '../platform/tracing.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

let site: Site;
let stack: TestStack;
let gateway: string;
let worker: ChildProcess;
let workerOut = '';
let ops: string;
let receiver: OtlpReceiver;
let tracing: Tracing;

beforeAll(async () => {
  receiver = await startOtlpReceiver();
  tracing = initTracing({ OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url }, 'dbb-ops-test');
  site = makeSite();
  stack = await startStagingStack({ env: site.env }); // the gateway only: the processor runs in the child
  gateway = await stack.listen();
  const port = await freePort();
  ops = `http://127.0.0.1:${port}`;
  worker = spawn(process.execPath, ['--import', 'tsx', 'cli/dbb.ts', 'run', 'processor', 'staging'], {
    cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...stack.env, DBB_STACK: 'external', DBB_METRICS_PORT: String(port), DBB_PG_POOL: '4', OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url } as NodeJS.ProcessEnv,
  });
  worker.stdout!.on('data', (d) => { workerOut += d; });
  worker.stderr!.on('data', (d) => { workerOut += d; });
  await eventually(() => {
    if (worker.exitCode !== null) throw new Error(`dbb run exited with ${worker.exitCode}:\n${workerOut}`);
    expect(workerOut).toContain('running processor staging');
  }, { timeoutMs: 120_000, intervalMs: 200 });
});

afterAll(async () => {
  if (worker && worker.exitCode === null) {
    const exited = new Promise((r) => worker.once('exit', r));
    worker.kill('SIGTERM');
    await exited;
  }
  await stack?.stop();
  await tracing?.shutdown();
  await receiver?.close();
  site?.cleanup();
});

interface Sample { name: string; labels: Record<string, string>; value: number }
/** Prometheus text format → samples (enough of it for these assertions: no escaped quotes in labels). */
function parseMetrics(text: string): Sample[] {
  return text.split('\n').filter((l) => l && !l.startsWith('#')).map((l) => {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(l);
    if (!m) throw new Error(`not a sample: ${l}`);
    const labels = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1]!, x[2]!]));
    return { name: m[1]!, labels, value: Number(m[3]) };
  });
}
const sample = (samples: Sample[], name: string, labels: Record<string, string> = {}) =>
  samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;

async function stageOverHttp(relative: string) {
  const res = await fetch(`${gateway}/stage_data?method=local_copy&username=alice`, {
    method: 'POST', headers: { ...stack.auth('producer'), 'content-type': 'application/json' },
    body: JSON.stringify({ local_path_on_storage: join(site.root, 'obs', 'f.dat'), relative_path: relative }),
  });
  return { status: res.status, body: await res.json() as { status: string; request_id: string } };
}

describe('a worker process serves health and metrics', () => {
  it('answers /healthz and /readyz while its consumer runs', async () => {
    const health = await eventually(async () => {
      const r = await fetch(`${ops}/healthz`);
      expect(r.status).toBe(200);
      return r.json();
    });
    expect(health).toEqual({ status: 'ok', consumers: { 'processor.staging': 'running' } });
    const ready = await fetch(`${ops}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready', checks: { postgres: 'ok', kafka: 'ok' } });
    expect((await fetch(`${ops}/nope`)).status).toBe(404);
  });

  it('counts the batches and effects it handled in /metrics', async () => {
    const res = await stageOverHttp('ops/f.dat');
    expect(res).toMatchObject({ status: 200, body: { status: 'success' } });
    const samples = await eventually(async () => {
      const r = await fetch(`${ops}/metrics`);
      expect(r.headers.get('content-type')).toMatch(/^text\/plain/);
      const s = parseMetrics(await r.text());
      expect(sample(s, 'dbb_effect_seconds_count', { effect: 'local_copy', outcome: 'ok' })).toBe(1);
      return s;
    });
    const consumer = { consumer: 'processor.staging' };
    expect(sample(samples, 'dbb_consumer_batch_size_count', consumer)).toBeGreaterThanOrEqual(1);
    expect(sample(samples, 'dbb_consumer_batch_size_sum', consumer)).toBeGreaterThanOrEqual(1);
    expect(sample(samples, 'dbb_consumer_batch_seconds_count', consumer)).toBeGreaterThanOrEqual(1);
    expect(sample(samples, 'dbb_events_handled_total', consumer)).toBeGreaterThanOrEqual(1);
    expect(sample(samples, 'dbb_outbox_depth')).toBeGreaterThanOrEqual(0);
    // the gateway runs in this test's process: its routes are not counted by the worker
    expect(samples.some((s) => s.name.startsWith('dbb_http_request_duration_seconds'))).toBe(false);
  });
});

describe('tracing across processes', () => {
  it('continues the gateway\'s trace in the worker: its consumer span is a child of the gateway\'s server span', async () => {
    const res = await stageOverHttp('ops/traced.dat');
    expect(res.status).toBe(200);
    const spans = await eventually(async () => {
      await tracing.flush();
      const found = receiver.spans.filter((s) => s.attributes['dbb.correlation_id'] === res.body.request_id || s.name === 'POST /stage_data');
      expect(found.map((s) => s.name)).toEqual(expect.arrayContaining(['processor.staging StagingRequested', 'effect local_copy']));
      return found;
    }, { timeoutMs: 30_000, intervalMs: 300 });
    const processor = spans.find((s) => s.name === 'processor.staging StagingRequested')!;
    const gateway = receiver.spans.find((s) => s.spanId === processor.parentSpanId);
    expect(gateway).toMatchObject({ name: 'POST /stage_data', service: 'dbb-ops-test', traceId: processor.traceId });
    expect(processor.service).toBe('dbb-processor.staging');
    expect(spans.find((s) => s.name === 'effect local_copy')).toMatchObject({ parentSpanId: processor.spanId, service: 'dbb-processor.staging' });
  });
});

describe('the gateway', () => {
  it('times each answer per route, method and status in dbb_http_request_duration_seconds', async () => {
    const labels = { route: '/stage_data', method: 'POST', status: '200' };
    const before = sample(parseMetrics(await (await fetch(`${gateway}/metrics`)).text()), 'dbb_http_request_duration_seconds_count', labels) ?? 0;
    expect((await stageOverHttp('ops/g.dat')).status).toBe(200);
    const after = parseMetrics(await (await fetch(`${gateway}/metrics`)).text());
    expect(sample(after, 'dbb_http_request_duration_seconds_count', labels)).toBe(before + 1);
    expect(sample(after, 'dbb_http_request_duration_seconds_bucket', { ...labels, le: '+Inf' })).toBe(before + 1);
    expect(sample(after, 'dbb_http_request_duration_seconds_sum', labels)).toBeGreaterThan(0);
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOpsServer, type OpsServer } from './ops-server.ts';

let server: OpsServer;
let healthy = true;

beforeAll(async () => {
  server = await startOpsServer({
    host: '127.0.0.1', port: 0, checkTimeoutMs: 200,
    healthy: () => ({ ok: healthy, detail: { 'processor.x': healthy ? 'running' : 'crashed: boom' } }),
    readiness: { postgres: async () => 1, kafka: () => new Promise(() => {}) },
  });
});
afterAll(() => server.close());

describe('ops server', () => {
  it('given every consumer runs, then /healthz is 200; given one stopped for good, then 503 naming it', async () => {
    const ok = await fetch(`${server.url}/healthz`);
    expect([ok.status, await ok.json()]).toEqual([200, { status: 'ok', consumers: { 'processor.x': 'running' } }]);
    healthy = false;
    const failed = await fetch(`${server.url}/healthz`);
    expect([failed.status, await failed.json()]).toEqual([503, { status: 'failed', consumers: { 'processor.x': 'crashed: boom' } }]);
    healthy = true;
  });

  it('given a dependency that does not answer, then /readyz is 503 and says which', async () => {
    const r = await fetch(`${server.url}/readyz`);
    expect([r.status, await r.json()]).toEqual([503, { status: 'not ready', checks: { postgres: 'ok', kafka: 'no answer in 200 ms' } }]);
  });

  it('serves the Prometheus registry at /metrics, GET only', async () => {
    const r = await fetch(`${server.url}/metrics`);
    expect(r.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(await r.text()).toMatch(/^# TYPE dbb_outbox_depth gauge$/m);
    expect((await fetch(`${server.url}/metrics`, { method: 'POST' })).status).toBe(405);
    expect((await fetch(`${server.url}/other`)).status).toBe(404);
  });
});

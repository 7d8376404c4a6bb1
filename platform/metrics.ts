// Prometheus metrics of the platform, one registry per process: served at the gateway's /metrics, and at
// the ops server's (platform/ops-server.ts) in a process without the gateway. Names: docs/deploy.md.
import client from 'prom-client';

export const registry = new client.Registry();
client.collectDefaultMetrics({ register: registry });

const SECONDS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** What dbb_outbox_depth reads at scrape time (set by the outbox relay of this process). */
let outboxDepth: (() => Promise<number>) | null = null;
export const setOutboxDepthSource = (fn: (() => Promise<number>) | null) => { outboxDepth = fn; };

export const metrics = {
  handled: new client.Counter({ name: 'dbb_events_handled_total', help: 'events applied by a consumer', labelNames: ['consumer'], registers: [registry] }),
  duplicates: new client.Counter({ name: 'dbb_events_duplicate_total', help: 'redelivered events dropped by eventId', labelNames: ['consumer'], registers: [registry] }),
  deadLettered: new client.Counter({ name: 'dbb_events_dead_lettered_total', help: 'records sent to a .dlq topic', labelNames: ['consumer'], registers: [registry] }),
  handlerSeconds: new client.Histogram({ name: 'dbb_handler_seconds', help: 'handler latency per event (one-at-a-time path)', labelNames: ['consumer'], buckets: [0.0005, 0.001, 0.005, 0.02, 0.1, 0.5, 2], registers: [registry] }),
  httpRequests: new client.Counter({ name: 'dbb_http_requests_total', help: 'gateway requests', labelNames: ['route', 'status'], registers: [registry] }),
  httpSeconds: new client.Histogram({ name: 'dbb_http_request_duration_seconds', help: 'gateway request latency, from the request line to the last byte of the answer', labelNames: ['route', 'method', 'status'], buckets: SECONDS, registers: [registry] }),
  consumerLag: new client.Gauge({ name: 'dbb_consumer_lag', help: 'records behind the log end per consumer group', labelNames: ['group'], registers: [registry] }),
  batchSize: new client.Histogram({ name: 'dbb_consumer_batch_size', help: 'records per consumer transaction (sub-batch)', labelNames: ['consumer'], buckets: [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000], registers: [registry] }),
  batchSeconds: new client.Histogram({ name: 'dbb_consumer_batch_seconds', help: 'time to apply and commit one consumer transaction, retries included', labelNames: ['consumer'], buckets: SECONDS, registers: [registry] }),
  effectSeconds: new client.Histogram({ name: 'dbb_effect_seconds', help: 'side effect duration by effect kind and outcome (ok | error)', labelNames: ['effect', 'outcome'], buckets: SECONDS, registers: [registry] }),
  outboxDepth: new client.Gauge({
    name: 'dbb_outbox_depth', help: 'rows waiting in the outbox (read at scrape time, capped at 100000)', registers: [registry],
    // a failed count (database down) leaves the last value: the scrape itself must not fail
    async collect() { const n = outboxDepth ? await outboxDepth().catch(() => null) : null; if (n !== null) this.set(n); },
  }),
  outboxPublished: new client.Counter({ name: 'dbb_outbox_published_total', help: 'outbox rows published by the relay', registers: [registry] }),
};

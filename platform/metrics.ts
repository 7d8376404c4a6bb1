// Prometheus metrics of the platform (scraped at the gateway's /metrics).
import client from 'prom-client';

export const registry = new client.Registry();
client.collectDefaultMetrics({ register: registry });

export const metrics = {
  handled: new client.Counter({ name: 'dbb_events_handled_total', help: 'events applied by a consumer', labelNames: ['consumer'], registers: [registry] }),
  duplicates: new client.Counter({ name: 'dbb_events_duplicate_total', help: 'redelivered events dropped by eventId', labelNames: ['consumer'], registers: [registry] }),
  deadLettered: new client.Counter({ name: 'dbb_events_dead_lettered_total', help: 'records sent to a .dlq topic', labelNames: ['consumer'], registers: [registry] }),
  handlerSeconds: new client.Histogram({ name: 'dbb_handler_seconds', help: 'handler latency per event', labelNames: ['consumer'], buckets: [0.0005, 0.001, 0.005, 0.02, 0.1, 0.5, 2], registers: [registry] }),
  httpRequests: new client.Counter({ name: 'dbb_http_requests_total', help: 'gateway requests', labelNames: ['route', 'status'], registers: [registry] }),
  consumerLag: new client.Gauge({ name: 'dbb_consumer_lag', help: 'records behind the log end per consumer group', labelNames: ['group'], registers: [registry] }),
};

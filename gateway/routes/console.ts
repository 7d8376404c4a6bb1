// The web console's server side: serves the static build (web/dist) at `/` and a cross-domain live
// event stream (SSE over fetch, bearer in the header). Appends no events. The console's ops views are
// gateway/routes/ops.ts; its test-file tool is a staging route (gateway/routes/staging.ts).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { ServerResponse } from 'node:http';
import fastifyStatic from '@fastify/static';
import { Type } from '@sinclair/typebox';
import { BadRequestError } from '../../platform/errors.ts';
import type { DecodedEvent } from '../../platform/types.ts';
import { TOPIC } from '../../schemas/generated/index.ts';
import { boundUser, type RoutePlugin } from '../types.ts';

export const WEB_DIST = fileURLToPath(new URL('../../web/dist/', import.meta.url));
const DOMAIN_TOPICS = Object.values(TOPIC).filter((t) => t !== TOPIC.EXAMPLE_SAMPLES);
const csv = (s: string | undefined) => (s ?? '').split(',').map((x) => x.trim()).filter(Boolean);
const domainOf = (topic: string) => topic.split('.')[1] ?? '';

/** Event levels for the log view: refusals and failures are errors, deferrals and cancels warnings. */
export function levelOf(name: string): 'ERROR' | 'WARN' | 'INFO' {
  if (/Failed$|ConflictFound$/.test(name)) return 'ERROR';
  if (/Deferred$|Cancelled$|DuplicateFound$|Deleted$|Removed$/.test(name)) return 'WARN';
  return 'INFO';
}

/** One event as the console shows it: bytes fields summarised, never their content. */
export function consoleEvent(e: DecodedEvent) {
  const value = { ...(e.value as unknown as Record<string, unknown>) };
  delete value.meta;
  const body = JSON.parse(JSON.stringify(value, (_k, v) => (v && v.type === 'Buffer' && Array.isArray(v.data) ? `<${v.data.length} bytes>` : typeof v === 'bigint' ? String(v) : v)));
  const user = (body.username ?? body.user ?? e.meta.actor ?? null) as string | null;
  return {
    eventId: e.meta.eventId, event: e.name, level: levelOf(e.name), domain: domainOf(e.topic), topic: e.topic, key: e.key,
    correlationId: e.meta.correlationId, causationId: e.meta.causationId ?? null, actor: e.meta.actor ?? null, user,
    source: e.meta.source ?? null, occurredAt: new Date(Number(e.meta.occurredAt)).toISOString(), body,
  };
}

function writeSse(res: ServerResponse, name: string, id: string, data: unknown) {
  res.write(`id: ${id}\nevent: ${name}\ndata: ${JSON.stringify(data)}\n\n`);
}

export const consoleRoutes: RoutePlugin = async (app, deps) => {
  const operator = deps.auth.require('operator');
  const reader = deps.auth.require('reader');
  const open = new Set<ServerResponse>();
  app.addHook('onClose', async () => { for (const res of open) res.end(); });

  if (existsSync(`${WEB_DIST}index.html`)) {
    // only the built files get routes (no catch-all), so unknown paths keep the gateway's problem+json 404
    await app.register(fastifyStatic, { root: WEB_DIST, prefix: '/', wildcard: false, index: ['index.html'], decorateReply: false });
  }

  app.get('/api/v1/events/stream', {
    onRequest: reader,
    schema: {
      tags: ['console'], summary: 'Live events of every domain as Server-Sent Events (send the bearer token in the Authorization header)',
      querystring: Type.Object({
        domain: Type.Optional(Type.String({ maxLength: 200, description: 'comma-separated: gw, staging, tape, ingest, ivoa' })),
        topic: Type.Optional(Type.String({ maxLength: 1000, description: 'comma-separated topics, e.g. dbb.tape.jobs' })),
        correlationId: Type.Optional(Type.String({ maxLength: 200 })),
      }),
    },
  }, async (req, reply) => {
    const domains = new Set(csv(req.query.domain));
    const wanted = csv(req.query.topic);
    const unknown = wanted.filter((t) => !DOMAIN_TOPICS.includes(t as never));
    if (unknown.length) throw new BadRequestError('DBB_CONSOLE_UNKNOWN_TOPIC', `unknown topic(s) ${unknown.join(', ')}; known: ${DOMAIN_TOPICS.join(', ')}`);
    const topics = (wanted.length ? wanted : DOMAIN_TOPICS).filter((t) => !domains.size || domains.has(domainOf(t)));
    const cid = req.query.correlationId;
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    open.add(res);
    // a token bound to a user sees that user's staging events only (as on /api/v1/staging/events)
    const own = boundUser(req);
    const mine = new Set<string>();
    const stop = deps.replies.subscribe(topics, (event) => {
      if (cid && event.meta.correlationId !== cid) return;
      if (own && event.topic.endsWith(TOPIC.STAGING_REQUESTS)) {
        const v = event.value as { requestId?: string; username?: string };
        if (v.username === own && v.requestId) mine.add(v.requestId);
        if (!v.requestId || !mine.has(v.requestId)) return;
      }
      writeSse(res, event.name, event.meta.eventId, consoleEvent(event));
    });
    const ping = setInterval(() => res.write(': ping\n\n'), 15_000);
    res.on('close', () => { clearInterval(ping); stop(); open.delete(res); });
    await stop.ready?.catch(() => {}); // the live consumer starts on first use: "connected" once it reads
    res.write(': connected\n\n');
  });
};

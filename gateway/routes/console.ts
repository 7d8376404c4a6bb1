// The web console's server side: serves the static build (web/dist) at `/`, a cross-domain live event
// stream (SSE over fetch, bearer in the header), read-only ops views (consumer lag, DLQ counts and last
// dead letters, replay progress) and the staging seed's test-file tool. Appends no events; opens Kafka
// connections only when an ops route is called, so every other gateway pays nothing for it.
import { existsSync } from 'node:fs';
import { constants as C } from 'node:fs';
import * as fsp from 'node:fs/promises';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { ServerResponse } from 'node:http';
import fastifyStatic from '@fastify/static';
import { Type } from '@sinclair/typebox';
import { BadRequestError, DbbError } from '../../platform/errors.ts';
import { stagingProblem } from '../../platform/problems.ts';
import { ns, type Config } from '../../platform/config.ts';
import { createKafka, baseTopic, DLQ_SUFFIX } from '../../platform/kafka.ts';
import { createLogger } from '../../platform/log.ts';
import { quoteIdent } from '../../platform/db.ts';
import type { DecodedEvent } from '../../platform/types.ts';
import { TOPIC } from '../../schemas/generated/index.ts';
import { loadStagingConfig } from '../../domains/staging/config.ts';
import { checkSourcePath } from '../../domains/staging/paths.ts';
import { fdPath, openTrustedDir, StagingRefusal, walkDirs } from '../../platform/safe-fs.ts';
import { boundUser, type RoutePlugin } from '../types.ts';

export const WEB_DIST = fileURLToPath(new URL('../../web/dist/', import.meta.url));
const DOMAIN_TOPICS = Object.values(TOPIC).filter((t) => t !== TOPIC.EXAMPLE_SAMPLES);
const TEST_FILE_MAX_BYTES = 64 * 1024 * 1024; // the test-file tool makes small files, not bulk data
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

async function withAdmin<T>(config: Config, fn: (admin: ReturnType<ReturnType<typeof createKafka>['admin']>) => Promise<T>): Promise<T> {
  const admin = createKafka(config, createLogger({ level: 'error' }), 'dbb-console').admin();
  await admin.connect();
  try { return await fn(admin); } finally { await admin.disconnect(); }
}

/** Dead-letter counts: events on every `*.dlq` topic of this namespace (log end minus start). */
async function dlqCounts(config: Config) {
  return withAdmin(config, async (admin) => {
    const names = (await admin.listTopics()).filter((t) => t.startsWith(ns(config, 'dbb.')) && t.endsWith(DLQ_SUFFIX)).sort();
    const out: { topic: string; events: number }[] = [];
    for (const t of names) {
      const offs = await admin.fetchTopicOffsets(t);
      out.push({ topic: baseTopic(config, t), events: offs.reduce((s, o) => s + Number(o.high) - Number(o.low), 0) });
    }
    return out;
  });
}

/** The last `limit` records of one DLQ topic per partition, with their error headers (original bytes summarised). */
async function lastDeadLetters(config: Config, topic: string, limit: number, timeoutMs = 20_000) {
  const full = ns(config, topic);
  const kafka = createKafka(config, createLogger({ level: 'error' }), 'dbb-console-dlq');
  const admin = kafka.admin();
  await admin.connect();
  const groupId = ns(config, `dbb.console.dlq.${randomUUID()}`);
  const letters: { partition: number; offset: string; timestamp: string; key: string | null; headers: Record<string, string>; bytes: number }[] = [];
  try {
    if (!(await admin.listTopics()).includes(full)) throw new BadRequestError('DBB_CONSOLE_TOPIC_NOT_FOUND', `no topic ${topic}`);
    const offs = await admin.fetchTopicOffsets(full);
    const want = offs.filter((o) => Number(o.high) > Number(o.low)).map((o) => ({ partition: o.partition, from: Math.max(Number(o.low), Number(o.high) - limit), high: Number(o.high) }));
    if (!want.length) return letters;
    const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 200 });
    await consumer.connect();
    try {
      await consumer.subscribe({ topics: [full], fromBeginning: true });
      const remaining = new Map(want.map((w) => [w.partition, w.high - w.from]));
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, timeoutMs);
        const done = () => { if ([...remaining.values()].every((n) => n <= 0)) { clearTimeout(timer); resolve(); } };
        void consumer.run({
          autoCommit: false,
          eachMessage: async ({ partition, message }) => {
            const w = want.find((x) => x.partition === partition);
            if (!w || Number(message.offset) < w.from) return;
            letters.push({
              partition, offset: message.offset, timestamp: new Date(Number(message.timestamp)).toISOString(), key: message.key?.toString() ?? null,
              headers: Object.fromEntries(Object.entries(message.headers ?? {}).map(([k, v]) => [k, String(v).slice(0, 2000)])), bytes: message.value?.length ?? 0,
            });
            remaining.set(partition, (remaining.get(partition) ?? 0) - 1);
            done();
          },
        });
        for (const w of want) consumer.seek({ topic: full, partition: w.partition, offset: String(w.from) });
      });
    } finally {
      await consumer.disconnect().catch(() => {});
      await admin.deleteGroups([groupId]).catch(() => {});
    }
  } finally {
    await admin.disconnect();
  }
  return letters.sort((a, b) => b.timestamp.localeCompare(a.timestamp)).slice(0, limit);
}

/** Lag per consumer group: log end minus the offsets the runtime stores in Postgres (each consumer's
 *  schema has `consumer_offsets`; those, not Kafka's committed offsets, are where a consumer resumes). */
async function consumerLag(deps: Parameters<RoutePlugin>[1]) {
  const { rows: schemas } = await deps.db.query<{ nspname: string }>(`SELECT n.nspname FROM pg_namespace n JOIN pg_class c ON c.relnamespace = n.oid
    WHERE c.relname = 'consumer_offsets' AND n.nspname NOT LIKE '%\\_\\_shadow' AND n.nspname NOT LIKE '%\\_\\_old' ORDER BY 1`);
  const offs: { group_id: string; topic: string; partition: number; next_offset: string }[] = [];
  for (const { nspname } of schemas) {
    offs.push(...(await deps.db.query(`SELECT group_id, topic, partition, next_offset FROM ${quoteIdent(nspname)}.consumer_offsets WHERE group_id LIKE $1`, [`${ns(deps.config, 'dbb.')}%`])).rows);
  }
  if (!offs.length) return [];
  return withAdmin(deps.config, async (admin) => {
    const ends = new Map<string, Map<number, number>>();
    const lag = new Map<string, number>();
    for (const o of offs) {
      if (!ends.has(o.topic)) ends.set(o.topic, new Map((await admin.fetchTopicOffsets(o.topic).catch(() => [])).map((p) => [p.partition, Number(p.high)])));
      const end = ends.get(o.topic)!.get(o.partition) ?? 0;
      const group = o.group_id.slice(deps.config.namespace.length);
      lag.set(group, (lag.get(group) ?? 0) + Math.max(0, end - Number(o.next_offset)));
    }
    return [...lag].map(([group, n]) => ({ group, lag: n })).sort((a, b) => a.group.localeCompare(b.group));
  });
}

/** Replays in progress: each `<schema>__shadow` holds the replay's stored offsets; compared with the log end now. */
async function replayProgress(deps: Parameters<RoutePlugin>[1]) {
  const { rows } = await deps.db.query<{ nspname: string }>(`SELECT n.nspname FROM pg_namespace n JOIN pg_class c ON c.relnamespace = n.oid
    WHERE n.nspname LIKE '%\\_\\_shadow' AND c.relname = 'consumer_offsets' ORDER BY 1`);
  if (!rows.length) return [];
  return withAdmin(deps.config, async (admin) => {
    const out = [];
    for (const { nspname } of rows) {
      const offs = await deps.db.query<{ topic: string; partition: number; next_offset: string }>(`SELECT topic, partition, next_offset FROM ${quoteIdent(nspname)}.consumer_offsets`);
      let done = 0;
      let total = 0;
      const ends = new Map<string, Map<number, number>>();
      // total: every partition of the replayed topics (a partition not assigned yet counts as 0 done)
      for (const o of offs.rows) {
        if (!ends.has(o.topic)) {
          const highs = new Map((await admin.fetchTopicOffsets(o.topic)).map((p) => [p.partition, Number(p.high)]));
          ends.set(o.topic, highs);
          for (const h of highs.values()) total += h;
        }
        done += Math.min(Number(o.next_offset), ends.get(o.topic)!.get(o.partition) ?? 0);
      }
      out.push({ projection: nspname.replace(/__shadow$/, '').replace(/^projection_/, ''), schema: nspname, done, total });
    }
    return out;
  });
}

/** Creates a file below the storage root without following links (the seed frontend's File Creation tool). */
async function createTestFile(root: string, path: string, content: Buffer): Promise<string> {
  const check = checkSourcePath(path, root);
  if (!check.ok) throw new DbbError(stagingProblem(check.code), check.reason);
  const comps = check.components;
  try {
    const dir = await walkDirs(await openTrustedDir(root), comps.slice(0, -1), { create: true, label: root });
    try {
      const fh = await fsp.open(fdPath(dir, comps[comps.length - 1]), C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW, 0o644);
      try { await fh.writeFile(content); } finally { await fh.close(); }
    } finally {
      await dir.close();
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new BadRequestError('DBB_CONSOLE_FILE_EXISTS', `${path} already exists on the storage`);
    if (err instanceof StagingRefusal) throw new DbbError(stagingProblem(err.code), err.message);
    throw err;
  }
  return `${root}/${comps.join('/')}`;
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
    res.write(': connected\n\n');
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
  });

  app.get('/api/v1/ops/lag', {
    onRequest: operator,
    schema: { tags: ['console'], summary: 'Consumer lag per group (log end minus the offsets stored with each consumer\'s state)', response: { 200: Type.Object({ groups: Type.Array(Type.Object({ group: Type.String(), lag: Type.Integer() })) }) } },
  }, async () => ({ groups: await consumerLag(deps) }));

  app.get('/api/v1/ops/dlq', {
    onRequest: operator,
    schema: { tags: ['console'], summary: 'Dead letters per .dlq topic', response: { 200: Type.Object({ topics: Type.Array(Type.Object({ topic: Type.String(), events: Type.Integer() })) }) } },
  }, async () => ({ topics: await dlqCounts(deps.config) }));

  app.get('/api/v1/ops/dlq/last', {
    onRequest: operator,
    schema: {
      tags: ['console'], summary: 'The last dead letters of one .dlq topic, newest first, with their error headers',
      querystring: Type.Object({ topic: Type.String({ pattern: '^dbb\\.[a-z0-9_.-]+\\.dlq$', maxLength: 200 }), limit: Type.Integer({ minimum: 1, maximum: 100, default: 10 }) }),
    },
  }, async (req) => ({ topic: req.query.topic, letters: await lastDeadLetters(deps.config, req.query.topic, req.query.limit) }));

  app.get('/api/v1/ops/replays', {
    onRequest: operator,
    schema: { tags: ['console'], summary: 'Projection replays in progress (events applied into the shadow schema / log end)', response: { 200: Type.Object({ replays: Type.Array(Type.Object({ projection: Type.String(), schema: Type.String(), done: Type.Integer(), total: Type.Integer() })) }) } },
  }, async () => ({ replays: await replayProgress(deps) }));

  app.post('/api/v1/console/test-files', {
    onRequest: operator,
    schema: {
      tags: ['console'], summary: 'Create a test file on the staging storage (the seed frontend\'s File Creation tool)',
      body: Type.Object({
        path: Type.String({ minLength: 1, maxLength: 4095, description: 'below the storage root (absolute under it, or relative)' }),
        content: Type.Optional(Type.String({ maxLength: 1024 * 1024, description: 'text to write' })),
        size_bytes: Type.Optional(Type.Integer({ minimum: 0, maximum: TEST_FILE_MAX_BYTES, description: 'instead of content: this many bytes of a repeating pattern' })),
      }, { additionalProperties: false }),
      response: { 201: Type.Object({ path: Type.String(), size_bytes: Type.Integer() }) },
    },
  }, async (req, reply) => {
    const { storageRoot } = loadStagingConfig(deps.env);
    const content = req.body.content !== undefined ? Buffer.from(req.body.content, 'utf8')
      : Buffer.alloc(req.body.size_bytes ?? 1024, 'Data Backbone test file\n');
    const path = await createTestFile(storageRoot, req.body.path, content);
    return reply.code(201).send({ path, size_bytes: content.length });
  });
};

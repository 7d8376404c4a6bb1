// Staging routes: the seed's POST /stage_data (request/reply on StagingRequested → FileStaged |
// StagingFailed, or the file itself for direct_download) and GET /logs, plus /api/v1/staging/...
// for request status, listing, rerun of a failed request, ranged download and a live SSE stream.
// Decisions on state are the processor's (request/reply); reads come from the projection. A token
// bound to a user (DBB_TOKENS ...:user=alice) stages only into, and sees only, that user's requests.
import { constants as C } from 'node:fs';
import * as fsp from 'node:fs/promises';
import { basename } from 'node:path';
import { Type } from '@sinclair/typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { BadRequestError, DbbError } from '../../platform/errors.ts';
import { stagingProblem } from '../../platform/problems.ts';
import { problem } from '../plugins/errors.ts';
import { is } from '../../platform/types.ts';
import { TOPIC } from '../../schemas/generated/index.ts';
import { isMethod, loadStagingConfig, notifyPolicy, type StagingConfig } from '../../domains/staging/config.ts';
import { checkWebhookTarget } from '../../platform/webhook-target.ts';
import { checkRelativePath, checkSourcePath, checkUsername } from '../../domains/staging/paths.ts';
import { fdPath, openSource, openTrustedDir, StagingRefusal, walkDirs } from '../../platform/safe-fs.ts';
import { getStagingLog, getStagingRequest, listStagingRequests, SCHEMA, type StagingRequestRecord } from '../../projections/staging/queries.ts';
import { actorOf, boundUser, mayActFor, type RoutePlugin } from '../types.ts';
import { AS_OF, schemaAsOf } from '../as-of.ts';

const Item = Type.Object({
  local_path_on_storage: Type.String({ maxLength: 8192, description: 'source: absolute under the storage root, or relative to it' }),
  relative_path: Type.Optional(Type.String({ maxLength: 8192, description: 'destination relative to the user area (not used by direct_download)' })),
  notify_url: Type.Optional(Type.String({ maxLength: 2048, description: 'http(s) URL POSTed once with the outcome, signed per Standard Webhooks (docs/staging.md, "Completion webhooks")' })),
});
const StageBody = Type.Union([Type.Object({ data: Item }), Item]);
const StageQuery = Type.Object({
  method: Type.String({ maxLength: 64 }),
  username: Type.String({ maxLength: 256 }),
  jupyter_token: Type.Optional(Type.String({ description: 'accepted for seed compatibility and ignored: the site token is configured (tokens never enter the log)' })),
});
const Success = Type.Object({ status: Type.Literal('success'), message: Type.String(), request_id: Type.String(), status_url: Type.String() });
const Record_ = Type.Object({
  id: Type.String(), method: Type.String(), username: Type.String(), local_path_on_storage: Type.String(), relative_path: Type.String(),
  status: Type.String(), attempts: Type.Integer(), skipped: Type.Boolean(), reconciled: Type.Boolean(), source_path: Type.Union([Type.String(), Type.Null()]),
  destination: Type.Union([Type.String(), Type.Null()]), size_bytes: Type.Union([Type.Number(), Type.Null()]),
  sha256: Type.Union([Type.String(), Type.Null()]), waiting: Type.Boolean(), notify_url: Type.Union([Type.String(), Type.Null()]),
  notify_status: Type.Union([Type.Literal('PENDING'), Type.Literal('DELIVERED'), Type.Literal('FAILED'), Type.Null()]),
  error_code: Type.Union([Type.String(), Type.Null()]), error_reason: Type.Union([Type.String(), Type.Null()]),
  actor: Type.Union([Type.String(), Type.Null()]), requested_at: Type.String(), started_at: Type.Union([Type.String(), Type.Null()]),
  finished_at: Type.Union([Type.String(), Type.Null()]), duration_ms: Type.Union([Type.Number(), Type.Null()]),
});
const IdParams = Type.Object({ id: Type.String({ maxLength: 100 }) });

const statusUrl = (id: string) => `/api/v1/staging/requests/${id}`;

function refuse(code: string, reason: string, details: Record<string, unknown> = {}): never {
  throw new DbbError(stagingProblem(code), reason, { details });
}

/** 403 unless the caller may act for / see `username` (a bound token: only its own user). */
function requireUser(req: FastifyRequest, username: string, what: string): void {
  if (!mayActFor(req, username)) {
    throw new BadRequestError('DBB_AUTH_FORBIDDEN_USER', `token ${req.principal!.name} is bound to user ${req.principal!.user} and may not ${what} of user ${username}`);
  }
}

/** A request record the caller may see: 404 when absent, 403 when it is another user's (bound token). */
async function visibleRequest(req: FastifyRequest, db: Parameters<typeof getStagingRequest>[0], id: string, what: string, schema = SCHEMA): Promise<StagingRequestRecord> {
  const rec = await getStagingRequest(db, id, schema);
  if (!rec) throw new BadRequestError('DBB_STAGING_NOT_FOUND', `no staging request ${id}`);
  requireUser(req, rec.username, what);
  return rec;
}

/** Parses a single `bytes=` range; null = whole file, 'unsatisfiable' → 416. Multiple ranges → whole file. */
export function parseRange(header: string | undefined, size: number): { start: number; end: number } | null | 'unsatisfiable' {
  if (!header) return null;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return null;
  if (m[1] === '') {
    const n = Number(m[2]);
    if (n === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (start >= size || end < start) return 'unsatisfiable';
  return { start, end };
}

/** Lone UTF-16 surrogates as U+FFFD (what the filesystem name holds anyway); String#toWellFormed is ES2024. */
export const wellFormed = (s: string) => s.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd');

/** Content-Disposition for any file name Linux allows (RFC 6266): an ASCII `filename` fallback with
 *  everything outside printable ASCII (and `"` `\\`) as `_`, plus `filename*` with the UTF-8 bytes
 *  percent-encoded. A raw non-Latin-1 or control character in a header makes Node throw
 *  ERR_INVALID_CHAR (a 500 for e.g. an NFD name, seen in test/torture/staging-attacks.test.ts). */
export function contentDisposition(name: string): string {
  name = wellFormed(name); // a lone surrogate (possible in JSON) would make encodeURIComponent throw
  const ascii = name.replace(/[^\x20-\x7e]|["\\]/gu, '_');
  const encoded = encodeURIComponent(name).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encoded}`;
}

/** Streams a source file (opened link-safely again) with Range support. */
async function sendFile(reply: FastifyReply, cfg: StagingConfig, localPath: string, range: string | undefined, requestId: string) {
  const check = checkSourcePath(localPath, cfg.storageRoot);
  if (!check.ok) refuse(check.code, check.reason);
  let src;
  try {
    src = await openSource(cfg.storageRoot, check.components);
  } catch (err) {
    if (err instanceof StagingRefusal) throw new DbbError(stagingProblem(err.code), err.message);
    throw err;
  }
  await src.dir.close();
  const size = src.stat.size;
  const r = parseRange(range, size);
  reply.header('accept-ranges', 'bytes').header('content-type', 'application/octet-stream')
    .header('content-disposition', contentDisposition(basename(src.path))).header('x-request-id', requestId);
  if (r === 'unsatisfiable') {
    await src.file.close();
    return reply.code(416).header('content-range', `bytes */${size}`).type('application/problem+json')
      .send(problem('DBB_STAGING_RANGE', `range ${range} outside 0-${size - 1}`));
  }
  if (size === 0) {
    await src.file.close();
    return reply.code(200).header('content-length', 0).send(Buffer.alloc(0));
  }
  const { start, end } = r ?? { start: 0, end: size - 1 };
  if (r) reply.code(206).header('content-range', `bytes ${start}-${end}/${size}`);
  reply.header('content-length', end - start + 1);
  return reply.send(src.file.createReadStream({ start, end, autoClose: true }));
}

const TEST_FILE_MAX_BYTES = 64 * 1024 * 1024; // the test-file tool makes small files, not bulk data

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

export const stagingRoutes: RoutePlugin = async (app, deps) => {
  const cfg = loadStagingConfig(deps.env);
  const notifyAllow = notifyPolicy(cfg).allow;
  // open SSE responses, ended when the app closes (they would otherwise hold the server open)
  const streams = new Set<import('node:http').ServerResponse>();
  app.addHook('onClose', async () => { for (const r of streams) r.end(); });

  app.post('/stage_data', {
    onRequest: deps.auth.require('producer', 'staging-seed'),
    schema: {
      summary: 'Stage one file into the user area (seed); direct_download answers with the file',
      querystring: StageQuery,
      body: StageBody,
      response: { 200: Success },
    },
  }, async (req, reply) => {
    const { method, username } = req.query;
    const item = 'data' in req.body ? req.body.data : req.body;
    const relativePath = item.relative_path ?? '';
    if (!isMethod(method) || !cfg.allowedMethods.includes(method)) {
      refuse('METHOD_NOT_ALLOWED', `Invalid staging method: ${method}; allowed at this site: ${cfg.allowedMethods.join(', ')}`, { allowed_methods: cfg.allowedMethods });
    }
    const user = checkUsername(username);
    if (!user.ok) refuse(user.code, user.reason);
    requireUser(req, username, 'stage into the area');
    const src = checkSourcePath(item.local_path_on_storage, cfg.storageRoot);
    if (!src.ok) refuse(src.code, src.reason);
    if (method !== 'direct_download') {
      const dst = checkRelativePath(relativePath);
      if (!dst.ok) refuse(dst.code, dst.reason);
    }
    const notifyUrl = item.notify_url ?? null;
    if (notifyUrl !== null) {
      // judged again at every delivery: a name may resolve elsewhere later
      const target = await checkWebhookTarget(notifyUrl, notifyAllow);
      if (!target.ok) throw new BadRequestError('DBB_STAGING_NOTIFY_FORBIDDEN', target.reason);
    }
    const requestId = deps.replies.correlationId(); // a UUID whose reply is routed to this gateway instance
    const outcome = await deps.replies.request('StagingRequested', requestId, {
      requestId, method, username, localPathOnStorage: item.local_path_on_storage, relativePath, notifyUrl,
    }, { eventId: requestId, correlationId: requestId, actor: actorOf(req), replies: ['FileStaged', 'StagingFailed'], timeoutMs: cfg.replyTimeoutMs });
    if (is(outcome, 'StagingFailed')) {
      const { code, reason } = outcome.value;
      const details = { request_id: requestId, status_url: statusUrl(requestId) };
      throw new DbbError(stagingProblem(code), reason, { details });
    }
    if (!is(outcome, 'FileStaged')) throw new DbbError('DBB_STAGING_UNEXPECTED_REPLY', `unexpected reply ${outcome.name}`);
    if (method === 'direct_download') return sendFile(reply, cfg, item.local_path_on_storage, req.headers.range, requestId);
    const message = outcome.value.skipped ? `Data already available at ${outcome.value.destination}` : `Data staged for user ${username} with method ${method}`;
    return { status: 'success' as const, message, request_id: requestId, status_url: statusUrl(requestId) };
  });

  app.get('/logs', {
    onRequest: deps.auth.require('reader', 'staging-seed'),
    schema: { summary: 'Staging log (seed): one line per staging event, oldest first', querystring: Type.Object({ limit: Type.Integer({ minimum: 1, maximum: 100_000, default: 1000 }) }), response: { 200: Type.String() } },
  }, async (req, reply) => {
    const lines = await getStagingLog(deps.db, req.query.limit, SCHEMA, boundUser(req)); // a bound token: its user's lines only
    return reply.type('text/plain; charset=utf-8').send(lines.map((l) => `${l.at} - ${l.level} - ${l.message}\n`).join(''));
  });

  app.get('/api/v1/staging/config', {
    onRequest: deps.auth.require('reader', 'staging-seed'),
    schema: { summary: 'Methods allowed at this site', response: { 200: Type.Object({ allowed_methods: Type.Array(Type.String()) }) } },
  }, async () => ({ allowed_methods: cfg.allowedMethods }));

  app.get('/api/v1/staging/requests/:id', {
    onRequest: deps.auth.require('reader'),
    schema: { summary: 'Status of one staging request', params: IdParams, querystring: Type.Object(AS_OF), response: { 200: Record_ } },
  }, async (req) => visibleRequest(req, deps.db, req.params.id, 'see the request', await schemaAsOf(deps, 'projection.staging', req.query.as_of)));

  app.get('/api/v1/staging/requests', {
    onRequest: deps.auth.require('reader'),
    schema: {
      summary: 'Staging requests, newest first',
      querystring: Type.Object({
        username: Type.Optional(Type.String({ maxLength: 256 })),
        status: Type.Optional(Type.Union([Type.Literal('QUEUED'), Type.Literal('SUCCESS'), Type.Literal('FAILURE')])),
        limit: Type.Integer({ minimum: 1, maximum: 10_000, default: 100 }),
        ...AS_OF,
      }),
      response: { 200: Type.Object({ requests: Type.Array(Record_) }) },
    },
  }, async (req) => {
    const own = boundUser(req);
    if (own && req.query.username !== undefined) requireUser(req, req.query.username, 'list the requests');
    return { requests: await listStagingRequests(deps.db, { ...req.query, username: own ?? req.query.username }, await schemaAsOf(deps, 'projection.staging', req.query.as_of)) };
  });

  app.post('/api/v1/staging/requests/:id/rerun', {
    onRequest: deps.auth.require('operator'),
    schema: {
      summary: 'Run a FAILURE request again (e.g. after INTERRUPTED) and answer with its new outcome',
      params: IdParams,
      body: Type.Optional(Type.Object({ reason: Type.Optional(Type.String({ maxLength: 1000 })) })),
      response: {
        200: Type.Object({
          status: Type.Union([Type.Literal('success'), Type.Literal('failure')]), message: Type.String(), request_id: Type.String(), status_url: Type.String(),
          error_code: Type.Union([Type.String(), Type.Null()]),
        }),
      },
    },
  }, async (req) => {
    const id = req.params.id;
    // who owns a request never changes, so a bound token's ownership check may read the projection
    // (a request not projected yet is a 404, never a wrong yes); whether it may run again is the
    // processor's decision on its own state: it answers StagingRerunRefused when not FAILURE
    const rec = boundUser(req) ? await visibleRequest(req, deps.db, id, 'rerun the request') : null;
    const outcome = await deps.replies.request('StagingRerunRequested', id, { requestId: id, reason: req.body?.reason ?? '' }, {
      actor: actorOf(req), replies: ['FileStaged', 'StagingFailed', 'StagingRerunRefused'], timeoutMs: cfg.replyTimeoutMs,
    });
    if (is(outcome, 'StagingRerunRefused')) {
      const v = outcome.value;
      if (v.code === 'NOT_FOUND') throw new BadRequestError('DBB_STAGING_NOT_FOUND', v.reason);
      throw new BadRequestError('DBB_STAGING_NOT_FAILED', v.reason, { details: { request_status: v.status } });
    }
    const base = { request_id: id, status_url: statusUrl(id) };
    if (is(outcome, 'FileStaged')) {
      const v = outcome.value as { skipped: boolean; destination: string | null; username: string; method: string };
      const message = v.skipped ? `Data already available at ${v.destination}` : `Data staged for user ${rec?.username ?? v.username} with method ${v.method}`;
      return { status: 'success' as const, message, error_code: null, ...base };
    }
    const v = outcome.value as { code: string; reason: string };
    return { status: 'failure' as const, message: v.reason, error_code: v.code, ...base };
  });

  app.get('/api/v1/staging/requests/:id/download', {
    onRequest: deps.auth.require('reader'),
    schema: { summary: 'The file of a successful direct_download request (Range supported)', params: IdParams },
  }, async (req, reply) => {
    const rec = await visibleRequest(req, deps.db, req.params.id, 'download the file');
    if (rec.method !== 'direct_download' || rec.status !== 'SUCCESS') {
      throw new BadRequestError('DBB_STAGING_NOT_DOWNLOADABLE', `request ${rec.id} is a ${rec.method} request with status ${rec.status}; only successful direct_download requests can be downloaded`);
    }
    return sendFile(reply, cfg, rec.local_path_on_storage, req.headers.range, rec.id);
  });

  app.get('/api/v1/staging/events', {
    onRequest: deps.auth.require('reader', 'staging-seed'),
    schema: { summary: 'Live staging events as Server-Sent Events (the live log view)' },
  }, async (req, reply) => {
    reply.hijack();
    const res = reply.raw;
    streams.add(res);
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    // a bound token sees its user's events: those naming the user, and later ones of the same requests
    const own = boundUser(req);
    const mine = new Set<string>();
    const stop = deps.replies.subscribe([TOPIC.STAGING_REQUESTS], (event) => {
      if (own) {
        const v = event.value as { requestId?: string; username?: string };
        if (v.username === own && v.requestId) mine.add(v.requestId);
        if (!v.requestId || !mine.has(v.requestId)) return;
      }
      const data = { ...(event.value as object), meta: undefined, event: event.name, occurredAt: new Date(event.meta.occurredAt).toISOString(), actor: event.meta.actor };
      res.write(`id: ${event.meta.eventId}\nevent: ${event.name}\ndata: ${JSON.stringify(data)}\n\n`);
    });
    const ping = setInterval(() => res.write(': ping\n\n'), 15_000);
    req.raw.on('close', () => { clearInterval(ping); stop(); streams.delete(res); });
    await stop.ready?.catch(() => {}); // the live consumer starts on first use: "connected" once it reads
    res.write(': connected\n\n');
  });

  // the console's test-file tool (URL kept for the console): source files to try /stage_data with
  app.post('/api/v1/console/test-files', {
    onRequest: deps.auth.require('operator'),
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
    const content = req.body.content !== undefined ? Buffer.from(req.body.content, 'utf8')
      : Buffer.alloc(req.body.size_bytes ?? 1024, 'Data Backbone test file\n');
    const path = await createTestFile(cfg.storageRoot, req.body.path, content);
    return reply.code(201).send({ path, size_bytes: content.length });
  });
};

// Ingest routes (the seed has no HTTP API; all under /api/v1/ingest): files by current status (or in
// quarantine), a file's complete event history, counts per status, and rerun (operator; appends
// IngestRerunRequested; a quarantined file is brought back by the processor).
import { Type } from '@sinclair/typebox';
import { BadRequestError } from '../../platform/errors.ts';
import { STATUSES } from '../../domains/ingest/status.ts';
import { AS_OF, schemaAsOf } from '../as-of.ts';
import { requestReruns } from '../reruns.ts';
import { fileEvents, getFile, listFiles, statusCounts } from '../../projections/ingest/queries.ts';
import { actorOf, type RoutePlugin } from '../types.ts';

const Status = Type.Union(STATUSES.map((s) => Type.Literal(s)));
const Nullable = <T extends import('@sinclair/typebox').TSchema>(t: T) => Type.Union([t, Type.Null()]);
const File = Type.Object({
  fileId: Type.String(), relPath: Nullable(Type.String()), checksum: Nullable(Type.String()), size: Nullable(Type.Number()),
  sourcePath: Nullable(Type.String()), storagePath: Nullable(Type.String()), inStorage: Type.Boolean(), status: Nullable(Status),
  statusAt: Nullable(Type.String()), attempts: Type.Integer(), plugin: Nullable(Type.String()), lastError: Nullable(Type.String()),
  finderAction: Nullable(Type.String()), discoveredAt: Nullable(Type.String()), updatedAt: Type.String(),
  quarantinePath: Nullable(Type.String({ description: 'where the file is while quarantined (<name>.reason.json beside it); null otherwise' })),
});
const Event = Type.Object({
  eventId: Type.String(), event: Type.String(), status: Nullable(Status), occurredAt: Type.String(), actor: Nullable(Type.String()),
  plugin: Nullable(Type.String()), attempt: Nullable(Type.Integer()), durationMs: Nullable(Type.Number()), error: Nullable(Type.String()),
  details: Type.Unknown(),
});
const IdParams = Type.Object({ id: Type.String({ maxLength: 100 }) });
const Since = Type.String({ format: 'date-time', description: 'ISO 8601; files whose current status was set at or after this time' });
const RerunStatus = Type.Union(['FAILURE', 'UNKNOWN', 'SUCCESS', 'BACKFILL'].map((s) => Type.Literal(s)));

const PROJECTION = 'projection.ingest';
const notFound = (id: string) => new BadRequestError('DBB_INGEST_FILE_NOT_FOUND', `no ingest file ${id}`);

export const ingestRoutes: RoutePlugin = async (app, deps) => {
  app.get('/api/v1/ingest/files', {
    onRequest: deps.auth.require('reader'),
    schema: {
      summary: 'Files with their current ingest status (the latest status event)',
      querystring: Type.Object({
        status: Type.Optional(Status), since: Type.Optional(Since),
        quarantined: Type.Optional(Type.Boolean({ description: 'true: only files in quarantine; false: only files not in quarantine' })),
        limit: Type.Integer({ minimum: 1, maximum: 10_000, default: 1000 }), offset: Type.Integer({ minimum: 0, default: 0 }), ...AS_OF,
      }),
      response: { 200: Type.Object({ files: Type.Array(File) }) },
    },
  }, async (req) => {
    const { status, since, quarantined, limit, offset } = req.query;
    return { files: await listFiles(deps.db, { status, since: since ? new Date(since) : undefined, quarantined, limit, offset }, await schemaAsOf(deps, PROJECTION, req.query.as_of)) };
  });

  app.get('/api/v1/ingest/files/:id', {
    onRequest: deps.auth.require('reader'),
    schema: { summary: 'One file and its current status', params: IdParams, querystring: Type.Object(AS_OF), response: { 200: File } },
  }, async (req) => {
    const f = await getFile(deps.db, req.params.id, await schemaAsOf(deps, PROJECTION, req.query.as_of));
    if (!f) throw notFound(req.params.id);
    return f;
  });

  app.get('/api/v1/ingest/files/:id/events', {
    onRequest: deps.auth.require('reader'),
    schema: { summary: 'The complete event history of a file, oldest first', params: IdParams, querystring: Type.Object(AS_OF), response: { 200: Type.Object({ fileId: Type.String(), events: Type.Array(Event) }) } },
  }, async (req) => {
    const events = await fileEvents(deps.db, req.params.id, await schemaAsOf(deps, PROJECTION, req.query.as_of));
    if (!events.length) throw notFound(req.params.id);
    return { fileId: req.params.id, events };
  });

  app.get('/api/v1/ingest/counts', {
    onRequest: deps.auth.require('reader'),
    schema: { summary: 'Number of files per current ingest status', querystring: Type.Object(AS_OF), response: { 200: Type.Record(Type.String(), Type.Integer()) } },
  }, async (req) => statusCounts(deps.db, await schemaAsOf(deps, PROJECTION, req.query.as_of)));

  app.post('/api/v1/ingest/rerun', {
    onRequest: deps.auth.require('operator'),
    schema: {
      summary: 'Request another ingest attempt for files in the given status (appends IngestRerunRequested per file)',
      body: Type.Object({
        status: Type.Union([RerunStatus, Type.Array(RerunStatus, { minItems: 1 })]),
        since: Type.Optional(Since),
        files: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 8192 }), { maxItems: 100_000, description: 'file ids, relative paths, storage paths or quarantine paths' })),
        reason: Type.Optional(Type.String({ maxLength: 2000 })),
      }, { additionalProperties: false }),
      response: { 202: Type.Object({ requestId: Type.String(), count: Type.Integer(), fileIds: Type.Array(Type.String()), statusUrl: Type.String() }) },
    },
  }, async (req, reply) => {
    const statuses = [req.body.status].flat() as ('FAILURE' | 'UNKNOWN' | 'SUCCESS' | 'BACKFILL')[];
    const since = req.body.since ? new Date(req.body.since) : undefined;
    if (since && Number.isNaN(since.getTime())) throw new BadRequestError('DBB_INGEST_BAD_SINCE', 'since must be an ISO 8601 time');
    const r = await requestReruns(deps, { statuses, since, files: req.body.files, reason: req.body.reason ?? null, actor: actorOf(req) });
    return reply.code(202).send({ requestId: r.requestId, count: r.fileIds.length, fileIds: r.fileIds, statusUrl: '/api/v1/ingest/files?status=RERUN' });
  });
};

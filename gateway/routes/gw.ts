// GW data buffer routes: the seed's GlitchflowAPI (/streamdata, /train, /stats, /dumpbuf, /desc, /dspage,
// /cleanbuf, /dumpflog) on the default datastore, and the same per datastore under /api/v1/gw/datastores/{id}.
// Mutations append a request on dbb.gw.requests and answer with the processor's outcome (request/reply).
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { BadRequestError, ReplyTimeoutError } from '../../platform/errors.ts';
import { loadGwConfig, DATASTORE_ID_PATTERN } from '../../domains/gw/config.ts';
import { removeIncomingChunk, sweepIncoming, writeIncomingChunk } from '../../domains/gw/chunk-file.ts';
import { getDatastore, getHistory, listBufferFiles, listDatastores, type DatastoreView, type HistoryEntry } from '../../projections/gw/queries.ts';
import { is } from '../../platform/types.ts';
import { actorOf, type App, type GatewayDeps, type RoutePlugin } from '../types.ts';
import { gwStrainRoutes } from './gw-strain.ts';

const TAGS = ['gw'];
const Status = Type.Union([Type.Literal('OPERATIONAL'), Type.Literal('FROZEN')]);

const StreamBody = Type.Object({
  h: Type.Array(Type.Number(), { minItems: 1, description: 'strain samples' }),
  t: Type.Array(Type.Number(), { minItems: 2, maxItems: 2, description: '[t0 (GPS s), dt (s, > 0)]' }),
}, { additionalProperties: true });
const StreamQuery = Type.Object({
  t0: Type.Optional(Type.Number({ description: 'GPS time of the first sample, s (octet-stream bodies)' })),
  dt: Type.Optional(Type.Number({ description: 'sample spacing, s (octet-stream bodies)' })),
});
const StreamReply = Type.Union([
  Type.Object({
    resp: Type.Literal('CREATED'),
    body: Type.Object({
      fname: Type.String(), bytes: Type.Integer(), n_samples: Type.Integer(), t0: Type.Number(), dt: Type.Number(),
      n_itm: Type.Integer(), buff_size: Type.Integer(), datastore: Type.String(),
    }),
  }),
  Type.Object({ resp: Type.Literal('FROZEN'), body: Type.Object({ dstatus: Type.Literal('FROZEN'), msg: Type.String(), datastore: Type.String() }) }),
]);
const TrainBody = Type.Object({ user: Type.String({ minLength: 1 }), token: Type.String({ minLength: 1 }) });
const TrainReply = Type.Union([
  Type.Object({ resp: Type.Literal('FROZEN'), n_f: Type.Integer(), bt_wrt: Type.Integer() }),
  Type.Object({ resp: Type.Literal('WAITING') }),
]);
const CleanBody = Type.Object({ msg: Type.Optional(Type.Unknown()) }, { additionalProperties: true });
const CleanReply = Type.Object({ msg: Type.String(), archive: Type.String(), n_f: Type.Integer(), bt_wrt: Type.Integer() });
const StatsReply = Type.Object({ n_itm: Type.Integer(), buff_size: Type.Integer() });
const DumpReply = Type.Object({ nmlist: Type.Array(Type.String()) });
const DescReply = Type.Object({ resp: Status });
const DescV1Reply = Type.Object({ resp: Status, dstatus: Status, user: Type.String(), token: Type.String({ description: 'owner of the token that froze it (never the secret)' }), last_archive: Type.Union([Type.String(), Type.Null()]) });
const LogEntry = Type.Object({
  offset: Type.Integer(), event: Type.String(), occurredAt: Type.String(), correlationId: Type.String(),
  actor: Type.Union([Type.String(), Type.Null()]), body: Type.Record(Type.String(), Type.Unknown()),
});
const LogReply = Type.Object({ log: Type.Array(LogEntry) });
const LogQuery = Type.Object({ limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100_000, default: 1000 })) });
const IdParams = Type.Object({ id: Type.String({ pattern: DATASTORE_ID_PATTERN, description: 'datastore id (the Kafka key)' }) });

type Chunk = { samples: Float64Array; t0: number; dt: number };
declare module 'fastify' {
  interface FastifyRequest { gwChunk?: Chunk }
}

/** The samples of an octet-stream body (little-endian float64, on a little-endian host); refuses anything not finite. */
function checkedStrain(raw: Buffer): Float64Array {
  if (raw.length === 0) throw new BadRequestError('DBB_GW_EMPTY_CHUNK', 'h must hold at least one sample');
  if (raw.length % 8 !== 0) throw new BadRequestError('DBB_GW_BAD_STRAIN', `an octet-stream body is little-endian float64: ${raw.length} bytes is not a multiple of 8`);
  // a Float64Array view needs 8-byte alignment; Node's pooled buffers may not have it
  const aligned = raw.byteOffset % 8 === 0 ? raw : Buffer.from(raw);
  const view = new Float64Array(aligned.buffer, aligned.byteOffset, aligned.length / 8);
  for (let i = 0; i < view.length; i++) if (!Number.isFinite(view[i])) throw new BadRequestError('DBB_GW_BAD_STRAIN', `sample ${i} is not a finite number`);
  return view;
}

function checkedTime(t0: unknown, dt: unknown): { t0: number; dt: number } {
  if (typeof t0 !== 'number' || !Number.isFinite(t0)) throw new BadRequestError('DBB_GW_BAD_TIME', 't0 must be a finite number (GPS seconds)');
  if (typeof dt !== 'number' || !Number.isFinite(dt) || !(dt > 0)) throw new BadRequestError('DBB_GW_BAD_TIME', 'dt must be a finite number > 0 (seconds)');
  return { t0, dt };
}

/** Parses and checks a chunk before schema validation, so nothing lenient (coercion) slips through. */
function parseChunk(req: FastifyRequest): Chunk {
  if (Buffer.isBuffer(req.body)) {
    const q = req.query as { t0?: string; dt?: string };
    const { t0, dt } = checkedTime(q.t0 === undefined ? undefined : Number(q.t0), q.dt === undefined ? undefined : Number(q.dt));
    return { samples: checkedStrain(req.body), t0, dt };
  }
  const body = req.body as { h?: unknown; t?: unknown } | null;
  if (!body || typeof body !== 'object') throw new BadRequestError('DBB_GW_BAD_BODY', 'expected {"h":[...strain...],"t":[t0,dt]}');
  if (!Array.isArray(body.h)) throw new BadRequestError('DBB_GW_BAD_STRAIN', 'h must be an array of numbers');
  if (body.h.length === 0) throw new BadRequestError('DBB_GW_EMPTY_CHUNK', 'h must hold at least one sample');
  if (!Array.isArray(body.t) || body.t.length !== 2) throw new BadRequestError('DBB_GW_BAD_TIME', 't must be [t0, dt]');
  const { t0, dt } = checkedTime(body.t[0], body.t[1]);
  const h = body.h;
  const samples = new Float64Array(h.length);
  for (let i = 0; i < h.length; i++) {
    const x = h[i];
    if (typeof x !== 'number' || !Number.isFinite(x)) throw new BadRequestError('DBB_GW_BAD_STRAIN', `h[${i}] is not a finite number`);
    samples[i] = x;
  }
  return { samples, t0, dt };
}

const NO_BYTES = Buffer.alloc(0);

const esc = (s: unknown) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** The seed Datastore Logic's status page: status, counters, fill level, latest files and events. */
function renderStatusPage(d: DatastoreView, files: string[], log: HistoryEntry[], maxSize: number): string {
  const pct = Math.min(100, Math.round((100 * d.buff_size) / maxSize));
  const rows = log.slice().reverse().map((e) => `<tr><td>${esc(e.occurredAt)}</td><td>${esc(e.event)}</td><td>${esc(e.actor ?? '')}</td></tr>`).join('');
  const latest = files.slice(-20).reverse().map((f) => `<li>${esc(f)}</li>`).join('');
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>GW datastore ${esc(d.datastoreId)}</title>
<meta http-equiv="refresh" content="5"><style>body{font-family:sans-serif;margin:2em}.OPERATIONAL{color:#176e2c}.FROZEN{color:#1d4fa8}
td,th{padding:.2em .8em;text-align:left}progress{width:20em}</style></head><body>
<h1>GW datastore <code>${esc(d.datastoreId)}</code>: <span class="${esc(d.dstatus)}" id="dstatus">${esc(d.dstatus)}</span></h1>
<p>Files stored: <b id="n_itm">${d.n_itm}</b> &middot; bytes written: <b id="buff_size">${d.buff_size}</b> of MAX_SIZE ${maxSize}
<br><progress max="100" value="${pct}">${pct}%</progress> ${pct}%</p>
<p>Frozen by: ${esc(d.user || '-')} (token of ${esc(d.tokenOwner || '-')}) &middot; last archive: ${esc(d.lastArchive ?? '-')}</p>
<h2>Latest files</h2><ul>${latest || '<li>none</li>'}</ul>
<h2>Latest events</h2><table><tr><th>time</th><th>event</th><th>actor</th></tr>${rows}</table>
</body></html>`;
}

export const gwRoutes: RoutePlugin = async (app: App, deps: GatewayDeps) => {
  const gw = loadGwConfig(deps.config, deps.env);
  const swept = sweepIncoming(gw.dataDir);
  if (swept) app.log.warn({ removed: swept }, 'removed incoming chunk files no event names (a gateway died between writing and appending)');
  const seed = { mutate: deps.auth.require('producer', 'gw-seed'), read: deps.auth.require('reader', 'gw-seed') };
  const v1 = { mutate: deps.auth.require('producer'), admin: deps.auth.require('operator'), read: deps.auth.require('reader') };

  if (app.hasContentTypeParser('application/octet-stream')) app.removeContentTypeParser('application/octet-stream');
  app.addContentTypeParser('application/octet-stream', { parseAs: 'buffer' /* the server's 1 MiB; the /streamdata routes set bodyLimit: gw.maxChunkBytes */ }, (_req, body, done) => done(null, body));

  const idOf = (req: FastifyRequest) => (req.params as { id?: string }).id ?? gw.defaultDatastore;

  async function streamdata(req: FastifyRequest): Promise<Static<typeof StreamReply>> {
    const id = idOf(req);
    const c = req.gwChunk!;
    // the chunk file is written here and the event names it: its bytes never travel through Kafka, and
    // the processor stores it with a rename (or removes it when FROZEN). A file whose event was never
    // appended (a crash between the two) stays in incoming/, never in the buffer.
    const file = writeIncomingChunk(gw.dataDir, id, c.samples, c.t0, c.dt, gw.fileFormat, gw.fsync);
    const reply = await deps.replies.request('GwChunkReceived', id, { datastoreId: id, h: NO_BYTES, t0: c.t0, dt: c.dt, nSamples: c.samples.length, file }, {
      actor: actorOf(req), replies: ['GwChunkStored', 'GwChunkFailed'],
    }).catch((err) => {
      // a reply timeout: the event is in the log and the processor will store or discard the file
      if (!(err instanceof ReplyTimeoutError)) removeIncomingChunk(gw.dataDir, id, file);
      throw err;
    });
    if (is(reply, 'GwChunkStored')) {
      const v = reply.value;
      return { resp: 'CREATED', body: { fname: v.fileName, bytes: v.bytes, n_samples: v.nSamples, t0: v.t0, dt: v.dt, n_itm: v.nItm, buff_size: v.buffSize, datastore: id } };
    }
    return { resp: 'FROZEN', body: { dstatus: 'FROZEN', msg: 'the datastore is frozen: the chunk was not stored', datastore: id } };
  }

  async function train(req: FastifyRequest): Promise<Static<typeof TrainReply>> {
    const id = idOf(req);
    const { user, token } = req.body as Static<typeof TrainBody>;
    const who = deps.auth.verify(token);
    if (!who) throw new BadRequestError('DBB_GW_TOKEN_INVALID', 'the token in the body is not known');
    if (who.role === 'reader') throw new BadRequestError('DBB_GW_TOKEN_FORBIDDEN', `token of ${who.name} has role reader; freezing needs producer`);
    const reply = await deps.replies.request('TrainRequested', id, { datastoreId: id, user, tokenOwner: who.name }, {
      actor: actorOf(req) ?? who.name, replies: ['BufferFrozen', 'TrainDeferred'],
    });
    if (is(reply, 'BufferFrozen')) {
      const v = reply.value;
      return { resp: 'FROZEN', n_f: v.n_f, bt_wrt: v.bt_wrt };
    }
    return { resp: 'WAITING' };
  }

  async function cleanbuf(req: FastifyRequest): Promise<Static<typeof CleanReply>> {
    const id = idOf(req);
    const raw = (req.body as { msg?: unknown } | undefined)?.msg;
    const msg = raw === undefined || raw === null ? '' : typeof raw === 'string' ? raw : JSON.stringify(raw);
    const reply = await deps.replies.request('BufferFlushRequested', id, { datastoreId: id, msg: msg.slice(0, 2000) }, {
      actor: actorOf(req), replies: ['BufferFlushed'],
    });
    if (!is(reply, 'BufferFlushed')) throw new Error(`unexpected reply ${reply.name}`);
    const v = reply.value;
    return { msg: `datastore ${id} flushed: ${v.n_f} files archived in ${v.archivePath}`, archive: v.archivePath, n_f: v.n_f, bt_wrt: v.bt_wrt };
  }

  const stats = async (req: FastifyRequest) => {
    const d = await getDatastore(deps.db, idOf(req));
    return { n_itm: d.n_itm, buff_size: d.buff_size };
  };
  const dumpbuf = async (req: FastifyRequest) => ({ nmlist: await listBufferFiles(deps.db, idOf(req)) });
  const desc = async (req: FastifyRequest) => ({ resp: (await getDatastore(deps.db, idOf(req))).dstatus });
  const dumpflog = async (req: FastifyRequest) => ({ log: await getHistory(deps.db, idOf(req), (req.query as { limit?: number }).limit ?? 1000) });
  const dspage = async (req: FastifyRequest, reply: FastifyReply) => {
    const id = idOf(req);
    const [d, files, log] = await Promise.all([getDatastore(deps.db, id), listBufferFiles(deps.db, id), getHistory(deps.db, id, 20)]);
    return reply.type('text/html; charset=utf-8').send(renderStatusPage(d, files, log, gw.maxSize));
  };

  // the seed sends {"msg": ...}, but nothing in it matters: accept an empty body too
  const parseHook = async (req: FastifyRequest) => { req.gwChunk = parseChunk(req); };
  const streamSchema = (extra: object) => ({
    tags: TAGS, ...extra,
    summary: 'Store a strain chunk: JSON {"h":[...],"t":[t0,dt]} or application/octet-stream (little-endian float64, ?t0=&dt=)',
    querystring: StreamQuery,
    body: { content: { 'application/json': { schema: StreamBody }, 'application/octet-stream': { schema: { description: 'little-endian float64 samples' } } } },
    response: { 200: StreamReply },
  });

  // one table of operations, mounted twice: seed paths on the default datastore, /api/v1 per datastore
  const mounts = [
    { prefix: '', params: undefined, auth: { mutate: seed.mutate, admin: seed.mutate, read: seed.read }, log: '/dumpflog' },
    { prefix: '/api/v1/gw/datastores/:id', params: IdParams, auth: v1, log: '/history' },
  ];
  for (const m of mounts) {
    const p = m.params ? { params: m.params } : {};
    app.post(`${m.prefix}/streamdata`, {
      // auth before the chunk checks, so a caller without a token gets 401, not a 400 about its data
      schema: streamSchema(p) as never, bodyLimit: gw.maxChunkBytes, preValidation: [m.auth.mutate, parseHook],
    }, streamdata);
    app.post(`${m.prefix}/train`, { schema: { tags: TAGS, summary: 'Freeze the datastore once MAX_SIZE bytes are stored', ...p, body: TrainBody, response: { 200: TrainReply } }, onRequest: m.auth.mutate }, train);
    app.post(`${m.prefix}/cleanbuf`, { schema: { tags: TAGS, summary: 'Archive the stored batch, reset the counters, unfreeze', ...p, body: CleanBody, response: { 200: CleanReply } }, onRequest: m.auth.admin }, cleanbuf);
    app.get(`${m.prefix}/stats`, { schema: { tags: TAGS, summary: 'Files and bytes in the buffer (seed StatDesc.json)', ...p, response: { 200: StatsReply } }, onRequest: m.auth.read }, stats);
    app.get(`${m.prefix}/dumpbuf`, { schema: { tags: TAGS, summary: 'Names of the files in the buffer', ...p, response: { 200: DumpReply } }, onRequest: m.auth.read }, dumpbuf);
    app.get(`${m.prefix}/desc`, { schema: { tags: TAGS, summary: 'Datastore status', ...p, response: { 200: m.params ? DescV1Reply : DescReply } }, onRequest: m.auth.read },
      m.params ? async (req: FastifyRequest) => {
        const d = await getDatastore(deps.db, idOf(req));
        return { resp: d.dstatus, dstatus: d.dstatus, user: d.user, token: d.tokenOwner, last_archive: d.lastArchive };
      } : desc);
    app.get(`${m.prefix}/dspage`, { schema: { tags: TAGS, summary: 'HTML status page', ...p, produces: ['text/html'] }, onRequest: m.auth.read }, dspage);
    app.get(`${m.prefix}${m.log}`, { schema: { tags: TAGS, summary: "The datastore's event log (seed /dumpflog)", ...p, querystring: LogQuery, response: { 200: LogReply } }, onRequest: m.auth.read }, dumpflog);
  }

  app.get('/api/v1/gw/datastores', {
    schema: { tags: TAGS, summary: 'Every datastore with its status and counters', response: { 200: Type.Object({ datastores: Type.Array(Type.Object({ id: Type.String(), dstatus: Status, n_itm: Type.Integer(), buff_size: Type.Integer() })) }) } },
    onRequest: v1.read,
  }, async () => ({ datastores: (await listDatastores(deps.db)).map((d) => ({ id: d.datastoreId, dstatus: d.dstatus, n_itm: d.n_itm, buff_size: d.buff_size })) }));

  await gwStrainRoutes(app, deps, gw);
};

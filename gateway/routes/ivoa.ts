// ivoa routes: Simple Cone Search (/scs), DataLink (/datalink, replicas nearest the caller first), TAP
// (/tap/*, proxied to DaCHS), the same under the seed's paths, and /api/v1/ivoa/stats. SCS and DataLink
// answer VOTables, also for bad input (an error document, never a 500 or problem+json), as the IVOA specs expect.
import { Type } from '@sinclair/typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { GatewayDeps, RoutePlugin } from '../types.ts';
import { loadIvoaConfig, type IvoaConfig } from '../../domains/ivoa/config.ts';
import { coneSearch, getCounts, getDidReplicas, getSite, SCHEMA } from '../../projections/ivoa/queries.ts';
import { DATALINK_FORMAT, OBSCORE_COLUMNS, parsePublisherDid } from '../../projections/ivoa/obscore.ts';
import { errorDocument, resultsTable, VOTABLE_TYPE, type VoField } from './ivoa-votable.ts';
import { greatCircleKm, spolyToDali } from '../../projections/ivoa/geo.ts';
import { localFileOf } from '../../domains/ivoa/local-file.ts';
import { soda, sodaDescriptor, SODA_DESCRIPTOR_ID } from './ivoa-soda.ts';
import { AS_OF, schemaAsOf } from '../as-of.ts';
import { findSnapshotSchema } from '../../platform/snapshots.ts';

const GROUP = 'ivoa-seed';
/** The seed's paths (DaCHS TAP, DaCHS cone search, rucio-datalink), kept for its existing clients. */
const SEED_TAP = '/__system__/tap/run';
const SEED_SCS = '/rucio/rucio/cone/scs.xml';
const SEED_DATALINK = '/links';
// Query parameters may repeat (clients merge their own into a base URL): take them as strings or lists.
const StrOrList = Type.Optional(Type.Union([Type.String(), Type.Array(Type.String())]));
const Str = StrOrList;
const first = (v: string | string[] | undefined) => (Array.isArray(v) ? v[v.length - 1] : v);

const DATATYPE = { text: 'char', integer: 'int', bigint: 'long', 'double precision': 'double', spoly: 'char' } as const;
const obscoreField = (name: string): VoField => {
  const c = OBSCORE_COLUMNS.find((x) => x.name === name)!;
  // SCS 1.03 §3.2.2 names the three required columns by their UCD1 words.
  const ucd = name === 'obs_publisher_did' ? 'ID_MAIN' : name === 's_ra' ? 'POS_EQ_RA_MAIN' : name === 's_dec' ? 'POS_EQ_DEC_MAIN' : c.ucd;
  // A polygon is a double array (ra dec ra dec …, deg). No xtype="polygon": STILTS rejects the empty (null)
  // value of a DALI polygon, and most DIDs have no s_region; the utype and UCD say what the column is.
  if (c.type === 'spoly') return { name, datatype: 'double', arraysize: '*', ucd, unit: 'deg', utype: c.utype || undefined, description: c.description };
  return { name, datatype: DATATYPE[c.type], ucd, unit: c.unit || undefined, utype: c.utype || undefined, description: c.description };
};
// SCS VERB: 1 = the minimum (id and position), 2 = the usual columns, 3 = every ObsCore column.
const VERB_COLUMNS: Record<number, string[]> = {
  1: ['obs_publisher_did', 's_ra', 's_dec'],
  2: ['obs_publisher_did', 's_ra', 's_dec', 'rucio_did_scope', 'rucio_did_name', 'obs_collection', 'obs_id', 'dataproduct_type', 'calib_level', 'target_name', 'access_url', 'access_format', 's_fov'],
  3: ['obs_publisher_did', 's_ra', 's_dec', ...OBSCORE_COLUMNS.map((c) => c.name).filter((n) => !['obs_publisher_did', 's_ra', 's_dec'].includes(n))],
};
const DIST_FIELD: VoField = { name: '_r', datatype: 'double', ucd: 'pos.angDistance', unit: 'deg', description: 'Distance from the cone centre' };

const votable = (reply: FastifyReply, body: string, status = 200) => reply.code(status).type(`${VOTABLE_TYPE}; charset=utf-8`).send(body);

/** A number from a query parameter, or an error message naming it. */
function num(raw: string | undefined, name: string, min: number, max: number): number | string {
  if (raw === undefined || raw.trim() === '') return `parameter ${name} is required`;
  const n = Number(raw);
  if (!Number.isFinite(n)) return `parameter ${name} must be a number, got ${JSON.stringify(raw)}`;
  if (n < min || n > max) return `parameter ${name}=${n} is outside [${min}, ${max}]`;
  return n;
}

async function scs(req: FastifyRequest<{ Querystring: Record<string, string | string[] | undefined> }>, reply: FastifyReply, deps: GatewayDeps, cfg: IvoaConfig) {
  const q = Object.fromEntries(Object.entries(req.query).map(([k, v]) => [k, first(v)]));
  const ra = num(q.RA, 'RA', 0, 360);
  const dec = num(q.DEC, 'DEC', -90, 90);
  const sr = num(q.SR, 'SR', 0, cfg.scsMaxSr);
  const verb = q.VERB === undefined || q.VERB === '' ? 2 : Number(q.VERB);
  const bad = [ra, dec, sr].find((v) => typeof v === 'string') ?? (![1, 2, 3].includes(verb) ? `parameter VERB must be 1, 2 or 3, got ${JSON.stringify(q.VERB)}` : undefined);
  if (bad !== undefined) return votable(reply, errorDocument(bad as string));
  // ?as_of=<snapshot>: the ObsCore table as it was (docs/history.md); an unknown one is an SCS error document
  const schema = q.as_of === undefined ? SCHEMA : await findSnapshotSchema(deps.db, 'projection.ivoa', q.as_of);
  if (!schema) return votable(reply, errorDocument(`no snapshot ${JSON.stringify(q.as_of)} of the ObsCore table`));
  const rows = await coneSearch(deps.db, (ra as number) % 360, dec as number, sr as number, cfg.scsMaxRec + 1, schema);
  const overflow = rows.length > cfg.scsMaxRec;
  const cols = VERB_COLUMNS[verb];
  const fields = [...cols.map(obscoreField), DIST_FIELD];
  const data = rows.slice(0, cfg.scsMaxRec).map((r) => [...cols.map((c) => (c === 's_region' ? spolyToDali(r[c] as string | null) : r[c])), r._r]);
  return votable(reply, resultsTable(fields, data, {
    overflow,
    description: `Cone search on the ObsCore table: RA=${ra} DEC=${dec} SR=${sr} deg`,
  }));
}

const DATALINK_FIELDS: VoField[] = [
  { id: 'ID', name: 'ID', datatype: 'char', ucd: 'meta.id;meta.main' },
  { name: 'access_url', datatype: 'char', ucd: 'meta.ref.url' },
  { name: 'service_def', datatype: 'char', ucd: 'meta.ref' },
  { name: 'error_message', datatype: 'char', ucd: 'meta.code.error' },
  { name: 'semantics', datatype: 'char', ucd: 'meta.code' },
  { name: 'description', datatype: 'char', ucd: 'meta.note' },
  { name: 'content_type', datatype: 'char', ucd: 'meta.code.mime' },
  { name: 'content_length', datatype: 'long', ucd: 'phys.size;meta.file', unit: 'byte' },
];

async function datalink(req: { query: Record<string, string | string[] | undefined>; origin: string }, reply: FastifyReply, deps: GatewayDeps, cfg: IvoaConfig) {
  const q = req.query;
  const ids = ([] as string[]).concat(q.ID ?? []).filter((s) => s.trim() !== '');
  if (ids.length === 0) return votable(reply, errorDocument('UsageFault: parameter ID is required'), 400);
  let here = { lat: cfg.siteLat, lon: cfg.siteLon };
  const one = first;
  const site = one(q.site);
  if (site) {
    const found = await getSite(deps.db, site);
    if (!found) return votable(reply, errorDocument(`UsageFault: unknown site ${JSON.stringify(site)}`), 400);
    here = found;
  } else if (one(q.lat) !== undefined || one(q.lon) !== undefined) {
    const lat = num(one(q.lat), 'lat', -90, 90);
    const lon = num(one(q.lon), 'lon', -180, 360);
    if (typeof lat === 'string' || typeof lon === 'string') return votable(reply, errorDocument(`UsageFault: ${typeof lat === 'string' ? lat : lon}`), 400);
    here = { lat, lon };
  }
  const rows: unknown[][] = [];
  let cutouts = false;
  for (const id of ids) {
    const did = parsePublisherDid(id);
    const found = did && await getDidReplicas(deps.db, did.scope, did.name);
    if (!found) { rows.push([id, null, null, `NotFoundFault: ${id}`, '#this', null, null, null]); continue; }
    const replicas = found.replicas
      .map((r) => ({ ...r, km: greatCircleKm(here.lon, here.lat, r.site_lon, r.site_lat) }))
      .sort((a, b) => a.km - b.km || a.rse.localeCompare(b.rse));
    if (replicas.length === 0) rows.push([id, null, null, `NotFoundFault: ${id} has no replica`, '#this', null, null, null]);
    for (const r of replicas) {
      rows.push([id, r.access_url, null, null, '#this', `replica on ${r.rse} at ${r.site} (${Math.round(r.km)} km)`, null,
        found.accessEstsize === null ? null : found.accessEstsize * 1024]);
    }
    // A copy held here can be cut out (SODA): one #cutout row, described by the service descriptor below.
    if (localFileOf(cfg.storageRoot, cfg.replicaPathList, did.scope, did.name, found.replicas.map((r) => r.access_url))) {
      rows.push([id, null, SODA_DESCRIPTOR_ID, null, '#cutout', 'SODA cutout (CIRCLE, POLYGON, POS; BAND where the file has a spectral axis)', 'application/fits', null]);
      cutouts = true;
    }
  }
  // DataLink 1.1 §3.3: the links response is labelled with the datalink content parameter.
  return reply.type(`${DATALINK_FORMAT}; charset=utf-8`).send(resultsTable(DATALINK_FIELDS, rows, { resources: cutouts ? [sodaDescriptor(req.origin)] : [] }));
}

/** Query parameters plus those of a form-encoded POST body, repeated names as lists. */
function withForm(req: FastifyRequest): Record<string, string | string[]> {
  const q: Record<string, string | string[]> = { ...(req.query as Record<string, string | string[]>) };
  if (!Buffer.isBuffer(req.body)) return q;
  for (const [k, v] of new URLSearchParams(req.body.toString('utf8'))) q[k] = q[k] === undefined ? v : ([] as string[]).concat(q[k], v);
  return q;
}

const rawBody = (b: unknown): Uint8Array | string | undefined =>
  (Buffer.isBuffer(b) ? new Uint8Array(b) : typeof b === 'string' ? b : undefined);

/** Forwards /tap[/...] (and the seed's DaCHS path /__system__/tap/run[/...]) to DaCHS and rewrites its own
 *  URLs (capabilities, job locations, result links) to the gateway's. */
async function tapProxy(req: FastifyRequest, reply: FastifyReply, cfg: IvoaConfig) {
  const upstream = cfg.tapUrl.replace(/\/$/, '');
  const origin = new URL(upstream).origin;
  const target = req.url.startsWith(SEED_TAP) ? origin + req.url : upstream + req.url.slice('/tap'.length);
  const gateway = `${req.protocol}://${req.headers.host ?? 'localhost'}`;
  const headers: Record<string, string> = { accept: String(req.headers.accept ?? '*/*') };
  if (req.headers['content-type']) headers['content-type'] = String(req.headers['content-type']);
  let res: Response;
  try {
    res = await fetch(target, {
      method: req.method,
      headers,
      body: req.method === 'GET' || req.method === 'HEAD' ? undefined : rawBody(req.body) as RequestInit['body'],
      redirect: 'manual',
      signal: AbortSignal.timeout(120_000),
    });
  } catch (err) {
    req.log.error({ err, target }, 'TAP server unreachable');
    return votable(reply, errorDocument(`the TAP service is unavailable: ${(err as Error).message}`), 503);
  }
  // DaCHS names its VOSI endpoints under its system path (…/__system__/tap/run/tableMetadata); a client that
  // came through /tap gets them at TAP 1.1's fixed locations (/tap/capabilities, /tap/tables), which
  // DaCHS serves as well.
  const viaSeed = req.url.startsWith(SEED_TAP);
  // ivoa.obscore results carry DaCHS's DataLink service descriptor (//obscore#dl): this system's DataLink
  // is the gateway's /datalink (replicas nearest first, SODA cutouts), so it points there.
  const dl = (s: string) => s.split(`${origin}/__system__/obscore/dl/dlmeta`).join(`${gateway}/datalink`);
  const rewrite = (s: string) => dl(viaSeed
    ? s.split(upstream).join(`${gateway}/tap`).split(origin + SEED_TAP).join(gateway + SEED_TAP)
    : s.split(`${origin}${SEED_TAP}/tableMetadata`).join(`${gateway}/tap/tables`).split(upstream).join(`${gateway}/tap`).split(origin + SEED_TAP).join(`${gateway}/tap`));
  reply.code(res.status);
  const type = res.headers.get('content-type');
  if (type) reply.type(type);
  // taplint (W-CAP-SVR0) wants a Server header: say who answered.
  reply.header('server', `dbb-gateway (${res.headers.get('server') ?? 'DaCHS'})`);
  const location = res.headers.get('location');
  if (location) reply.header('location', rewrite(location));
  const body = Buffer.from(await res.arrayBuffer());
  if (type && /xml|text|html|json/.test(type)) return reply.send(rewrite(body.toString('utf8')));
  return reply.send(body);
}

export const ivoaRoutes: RoutePlugin = async (app, deps) => {
  const cfg = loadIvoaConfig(deps.env);
  const read = deps.auth.require('reader', GROUP);

  const scsRoute = {
    schema: {
      summary: 'IVOA Simple Cone Search 1.03 over the ObsCore table (VOTable; errors as an SCS error document)',
      querystring: Type.Object({ RA: Str, DEC: Str, SR: Str, VERB: Str }, { additionalProperties: true }),
    },
    // SCS answers a NaN/Infinity cone with its own VOTable error document
    config: { ownQueryErrors: true },
    onRequest: read,
  };
  const datalinkRoute = {
    schema: {
      summary: 'IVOA DataLink: every replica of a DID, nearest to the caller site (site name, or lat/lon, or the configured default) first',
      querystring: Type.Object({ ID: StrOrList, site: Str, lat: Str, lon: Str, RESPONSEFORMAT: Str }, { additionalProperties: true }),
    },
    onRequest: read,
  };
  for (const url of ['/scs', SEED_SCS]) app.get(url, scsRoute, (req, reply) => scs(req as never, reply, deps, cfg));
  // DataLink 1.0 §2.1: GET and POST (pyvo's iter_datalinks POSTs the IDs of a whole result as a form).
  for (const url of ['/datalink', SEED_DATALINK]) {
    app.route({ method: ['GET', 'POST'], url, ...datalinkRoute, handler: (req, reply) => datalink({ query: withForm(req), origin: `${req.protocol}://${req.headers.host ?? 'localhost'}` }, reply, deps, cfg) });
  }
  app.route({
    method: ['GET', 'POST'], url: '/soda',
    schema: { summary: 'IVOA SODA 1.0 sync cutout of a DID held locally (ID, CIRCLE | POLYGON | POS, BAND) → FITS with the cut WCS; errors as text/plain "<code>: <message>"', querystring: Type.Object({}, { additionalProperties: true }) },
    onRequest: read,
    handler: (req, reply) => soda(req, reply, deps, cfg),
  });

  // TAP clients POST forms (sync/async queries, job phase changes): pass the raw body through.
  for (const type of ['application/x-www-form-urlencoded', 'multipart/form-data']) {
    if (!app.hasContentTypeParser(type)) app.addContentTypeParser(type, { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
  }
  const tapSchema = { summary: 'IVOA TAP 1.1 (sync, async, tables, capabilities, TAP_SCHEMA) served by DaCHS through the gateway', querystring: Type.Object({}, { additionalProperties: true }) };
  for (const url of ['/tap', '/tap/*', SEED_TAP, `${SEED_TAP}/*`]) {
    app.route({ method: ['GET', 'POST', 'DELETE'], url, schema: tapSchema, config: { requires: 'ivoa.tap', ownQueryErrors: true }, onRequest: read, handler: (req, reply) => tapProxy(req, reply, cfg) });
  }

  app.get('/api/v1/ivoa/stats', {
    schema: {
      summary: 'ObsCore rows, published DIDs, deleted DIDs and live replicas',
      querystring: Type.Object(AS_OF),
      response: { 200: Type.Object({ rows: Type.Integer(), dids: Type.Integer(), deletedDids: Type.Integer(), replicas: Type.Integer() }) },
    },
    onRequest: read,
  }, async (req) => getCounts(deps.db, await schemaAsOf(deps, 'projection.ivoa', req.query.as_of)));
};

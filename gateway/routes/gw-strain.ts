// Reading strain back (issue 20): GET /api/v1/gw/datastores/{id}/strain?t0=&t1= cuts exactly the samples
// of [t0, t1) out of the stored chunk files, buffer and archived batches alike, with the missing stretches
// as an explicit gap list; GET .../archives lists the archived batches and their time spans.
// A read: the chunk index is projection_gw.files, the samples are the files; nothing is appended.
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BadRequestError, DbbError } from '../../platform/errors.ts';
import { Limiter } from '../../platform/limiter.ts';
import { DATASTORE_ID_PATTERN, type GwConfig } from '../../domains/gw/config.ts';
import { parseChunkJson } from '../../domains/gw/chunk-file.ts';
import { datastorePaths } from '../../domains/gw/paths.ts';
import { fillWindow, planWindow } from '../../domains/gw/strain-window.ts';
import { chunkNear, chunksBetween, datastoreExists, listArchives, type IndexedChunk } from '../../projections/gw/queries.ts';
import type { App, GatewayDeps } from '../types.ts';

const TAGS = ['gw'];
const IdParams = Type.Object({ id: Type.String({ pattern: DATASTORE_ID_PATTERN, description: 'datastore id' }) });
const StrainQuery = Type.Object({
  t0: Type.Number({ description: 'start, GPS s (inclusive)' }),
  t1: Type.Number({ description: 'end, GPS s (exclusive)' }),
  format: Type.Optional(Type.Union([Type.Literal('json'), Type.Literal('octet')], { default: 'json', description: 'json, or octet = little-endian float64 body with the grid in headers' })),
});
const StrainReply = Type.Object({
  datastore: Type.String(),
  t0: Type.Number({ description: 'GPS time of h[0], s (the first stored-grid sample at or after the requested t0, within dt/2)' }),
  dt: Type.Number({ description: 'sample spacing, s' }),
  n: Type.Integer({ description: 'samples in h' }),
  h: Type.Array(Type.Union([Type.Number(), Type.Null()]), { description: 'strain; null where no chunk holds the sample' }),
  gaps: Type.Array(Type.Tuple([Type.Integer(), Type.Integer()]), { description: 'missing samples as half-open index ranges [i, j) into h' }),
});
const ArchivesReply = Type.Object({
  archives: Type.Array(Type.Object({
    batch: Type.String({ description: 'archive directory name' }), archivePath: Type.String(), n_f: Type.Integer(), samples: Type.Integer(),
    t0: Type.Number(), t1: Type.Number({ description: 'end of the last chunk, s' }), dt: Type.Number(), mixedDt: Type.Boolean(),
  })),
});

/** Octet answers list the gaps in a header only up to this many (NaN marks every gap in the body anyway). */
const MAX_GAPS_IN_HEADER = 256;

/** Reads a chunk file: where the index says, else in an archive (a /cleanbuf may have moved it after the index was read). */
async function readChunk(root: string, datastoreId: string, c: IndexedChunk): Promise<Float64Array> {
  const p = datastorePaths(root, datastoreId);
  const tries = [c.archivePath ? join(c.archivePath, c.fileName) : join(p.data, c.fileName)];
  const read = async (path: string) => readFile(path, 'utf8').catch((err: NodeJS.ErrnoException) => { if (err.code === 'ENOENT') return null; throw err; });
  let text = await read(tries[0]);
  if (text === null && !c.archivePath) {
    // file names are unique per datastore across archives, so the newest archive holding it is its batch
    const batches = (await readdir(p.archive).catch(() => [] as string[])).sort().reverse();
    for (const b of batches) {
      tries.push(join(p.archive, b, c.fileName));
      if ((text = await read(tries[tries.length - 1])) !== null) break;
    }
  }
  if (text === null) throw new DbbError('DBB_GW_CHUNK_UNREADABLE', `chunk ${c.fileName} of datastore ${datastoreId} is in the index but not on disk (looked in ${tries.join(', ')})`);
  const data = parseChunkJson(text);
  if (data.h.length !== c.n || data.t0 !== c.t0 || data.dt !== c.dt) {
    throw new DbbError('DBB_GW_CHUNK_UNREADABLE', `chunk file ${c.fileName} holds ${data.h.length} samples at t0=${data.t0}, dt=${data.dt}; the index says ${c.n} at t0=${c.t0}, dt=${c.dt}`);
  }
  return data.h;
}

export interface StrainWindow { datastore: string; t0: number; dt: number; h: Float64Array; gaps: [number, number][] }

/** The samples of [t0, t1) in a datastore, NaN in the gaps. */
export async function readStrainWindow(deps: Pick<GatewayDeps, 'db'>, gw: Pick<GwConfig, 'dataDir' | 'readMaxSamples'>, datastoreId: string, t0: number, t1: number): Promise<StrainWindow> {
  if (!Number.isFinite(t0) || !Number.isFinite(t1) || !(t1 > t0)) throw new BadRequestError('DBB_GW_BAD_RANGE', `need finite t0 < t1 (got t0=${t0}, t1=${t1})`);
  const near = (await datastoreExists(deps.db, datastoreId)) ? await chunkNear(deps.db, datastoreId, t1) : null;
  if (!near) throw new BadRequestError('DBB_GW_DATASTORE_NOT_FOUND', `datastore ${datastoreId} has stored no strain`);
  // the index compares 15-digit numerics: widen by a sample plus a microsecond, planWindow cuts exactly
  const margin = near.dt + 1e-6 * Math.max(1, Math.abs(t1));
  // every chunk fully inside holds at least one sample, so more rows than this means too many samples anyway
  const limit = gw.readMaxSamples + 3;
  const chunks = await chunksBetween(deps.db, datastoreId, t0 - margin, t1 + margin, limit);
  if (chunks.length >= limit) throw new BadRequestError('DBB_GW_RANGE_TOO_LARGE', `[t0, t1) meets more than ${gw.readMaxSamples} chunks; at most ${gw.readMaxSamples} samples (GW_READ_MAX_SAMPLES) per request`);
  const spans = chunks.map((c, order) => ({ ...c, order }));
  const plan = planWindow({ t0, t1 }, spans, { ...near, order: -1 }, gw.readMaxSamples);
  const files = new Map<IndexedChunk, Float64Array>();
  const io = new Limiter(8);
  await Promise.all(plan.placements.map((p) => io.run(async () => { files.set(p.chunk, await readChunk(gw.dataDir, datastoreId, p.chunk)); })));
  const { h, gaps } = fillWindow(plan, (c) => files.get(c)!);
  return { datastore: datastoreId, t0: plan.t0, dt: plan.dt, h, gaps };
}

export async function gwStrainRoutes(app: App, deps: GatewayDeps, gw: GwConfig) {
  const read = deps.auth.require('reader');
  app.get('/api/v1/gw/datastores/:id/strain', {
    schema: {
      tags: TAGS, params: IdParams, querystring: StrainQuery,
      summary: 'Exactly the samples of [t0, t1), from the buffer and archived batches, with the gaps listed (JSON, or ?format=octet: float64le body, NaN in gaps)',
      response: { 200: StrainReply },
    },
    onRequest: read,
  }, async (req: FastifyRequest, reply: FastifyReply) => {
    const { id } = req.params as Static<typeof IdParams>;
    const q = req.query as Static<typeof StrainQuery>;
    const w = await readStrainWindow(deps, gw, id, q.t0, q.t1);
    if (q.format === 'octet') {
      const body = Buffer.alloc(w.h.length * 8);
      for (let i = 0; i < w.h.length; i++) body.writeDoubleLE(w.h[i], i * 8);
      const headers: Record<string, string> = {
        'dbb-datastore': w.datastore, 'dbb-t0': String(w.t0), 'dbb-dt': String(w.dt), 'dbb-samples': String(w.h.length), 'dbb-gap-count': String(w.gaps.length),
      };
      if (w.gaps.length <= MAX_GAPS_IN_HEADER) headers['dbb-gaps'] = w.gaps.map(([a, b]) => `${a}-${b}`).join(',');
      return reply.type('application/octet-stream').headers(headers).send(body);
    }
    // a string is sent as is; JSON.stringify writes NaN as null, which is the gap marker of the JSON form
    return reply.type('application/json; charset=utf-8')
      .send(JSON.stringify({ datastore: w.datastore, t0: w.t0, dt: w.dt, n: w.h.length, h: Array.from(w.h), gaps: w.gaps }));
  });

  app.get('/api/v1/gw/datastores/:id/archives', {
    schema: { tags: TAGS, params: IdParams, summary: 'Archived batches of the datastore with the time span each holds', response: { 200: ArchivesReply } },
    onRequest: read,
  }, async (req: FastifyRequest) => ({ archives: await listArchives(deps.db, (req.params as Static<typeof IdParams>).id) }));
}

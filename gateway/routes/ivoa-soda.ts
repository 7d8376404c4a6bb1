// SODA 1.0 sync cutouts (/soda) of DIDs whose file is held locally, and the DataLink service descriptor
// that advertises them. The cut itself is astropy's (domains/ivoa/soda_worker.py in a worker process):
// pixel ranges from the file's WCS, the cut WCS from WCS.slice.
import { execFile } from 'node:child_process';
import { createReadStream, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { GatewayDeps } from '../types.ts';
import type { IvoaConfig } from '../../domains/ivoa/config.ts';
import { localFileOf } from '../../domains/ivoa/local-file.ts';
import { parsePublisherDid } from '../../projections/ivoa/obscore.ts';
import { getDidReplicas } from '../../projections/ivoa/queries.ts';
import { serviceDescriptor } from './ivoa-votable.ts';

export const SODA_SYNC = 'ivo://ivoa.net/std/SODA#sync-1.0';
export const SODA_DESCRIPTOR_ID = 'soda';
const WORKER = fileURLToPath(new URL('../../domains/ivoa/soda_worker.py', import.meta.url));
const PYTHON = '/usr/bin/python3';
const MAX_WORKERS = 2;

/** The SODA service descriptor (at the gateway the DataLink request came to) a DataLink response carries when it lists #cutout rows; its ID parameter
 *  refers to the links table's ID column, so one descriptor serves every row. */
export function sodaDescriptor(publicUrl: string): string {
  return serviceDescriptor(SODA_DESCRIPTOR_ID, SODA_SYNC, `${publicUrl.replace(/\/$/, '')}/soda`, [
    { name: 'ID', datatype: 'char', ucd: 'meta.id;meta.dataset', ref: 'ID', description: 'publisher DID of the dataset' },
    { name: 'CIRCLE', datatype: 'double', arraysize: '3', xtype: 'circle', unit: 'deg', ucd: 'phys.angArea;obs', description: 'ra dec radius (ICRS)' },
    { name: 'POLYGON', datatype: 'double', arraysize: '*', xtype: 'polygon', unit: 'deg', ucd: 'pos.outline;obs', description: 'ra dec vertices (ICRS)' },
    { name: 'POS', datatype: 'char', ucd: 'pos.outline;obs', description: 'CIRCLE ra dec r | RANGE ra1 ra2 dec1 dec2 | POLYGON ra dec ...' },
    { name: 'BAND', datatype: 'double', arraysize: '2', xtype: 'interval', unit: 'm', ucd: 'em.wl;stat.interval', description: 'vacuum wavelength interval (only for files with a spectral axis)' },
  ], 'SODA cutout of the dataset held by this site');
}

/** The local file of a published DID, or null. */
export async function localFileForDid(deps: GatewayDeps, cfg: IvoaConfig, id: string): Promise<{ file: string; name: string } | null | 'unknown'> {
  const did = parsePublisherDid(id);
  const found = did && await getDidReplicas(deps.db, did.scope, did.name);
  if (!did || !found) return 'unknown';
  const file = localFileOf(cfg.storageRoot, cfg.replicaPathList, did.scope, did.name, found.replicas.map((r) => r.access_url));
  return file ? { file, name: did.name } : null;
}

type Spec = { circle?: number[]; range?: number[]; polygon?: number[]; band?: number[] };

class SodaUsage extends Error { constructor(public code: string, message: string) { super(message); } }

function numbers(raw: string, name: string, n?: number): number[] {
  const v = raw.trim().split(/\s+/).map(Number);
  if (v.some((x) => !Number.isFinite(x)) || (n !== undefined && v.length !== n)) throw new SodaUsage('UsageError', `${name} must be ${n ?? 'a list of'} numbers, got ${JSON.stringify(raw)}`);
  return v;
}

/** SODA parameters → the worker's spec; one spatial constraint (CIRCLE, POLYGON or POS) and at most one BAND. */
export function parseSoda(q: Record<string, string[]>): Spec {
  for (const [k, v] of Object.entries(q)) if (v.length > 1 && ['ID', 'CIRCLE', 'POLYGON', 'POS', 'BAND'].includes(k)) throw new SodaUsage('MultiValuedParamNotSupported', `${k} given ${v.length} times`);
  const spec: Spec = {};
  const spatial = ['CIRCLE', 'POLYGON', 'POS'].filter((k) => q[k]?.length);
  if (spatial.length > 1) throw new SodaUsage('UsageError', `only one of CIRCLE, POLYGON, POS may be given (got ${spatial.join(', ')})`);
  if (q.CIRCLE?.length) spec.circle = numbers(q.CIRCLE[0], 'CIRCLE', 3);
  if (q.POLYGON?.length) spec.polygon = numbers(q.POLYGON[0], 'POLYGON');
  if (q.POS?.length) {
    const m = /^\s*(CIRCLE|RANGE|POLYGON)\s+(.*)$/i.exec(q.POS[0]);
    if (!m) throw new SodaUsage('UsageError', `POS must be CIRCLE, RANGE or POLYGON, got ${JSON.stringify(q.POS[0])}`);
    const shape = m[1].toUpperCase();
    if (shape === 'CIRCLE') spec.circle = numbers(m[2], 'POS CIRCLE', 3);
    else if (shape === 'RANGE') spec.range = numbers(m[2].replace(/-?Inf/gi, (s) => (s.startsWith('-') ? '-1e308' : '1e308')), 'POS RANGE', 4);
    else spec.polygon = numbers(m[2], 'POS POLYGON');
  }
  if (spec.polygon && (spec.polygon.length < 6 || spec.polygon.length % 2)) throw new SodaUsage('UsageError', 'POLYGON needs at least three ra dec pairs');
  if (spec.circle && (spec.circle[2] <= 0 || spec.circle[1] < -90 || spec.circle[1] > 90)) throw new SodaUsage('UsageError', 'CIRCLE needs -90 <= dec <= 90 and a positive radius');
  if (q.BAND?.length) spec.band = numbers(q.BAND[0].replace(/-?Inf/gi, (s) => (s.startsWith('-') ? '0' : '1e308')), 'BAND', 2);
  return spec;
}

let running = 0;
const waiting: (() => void)[] = [];
async function slot<T>(fn: () => Promise<T>): Promise<T> {
  if (running >= MAX_WORKERS) await new Promise<void>((r) => waiting.push(r));
  running++;
  try { return await fn(); } finally { running--; waiting.shift()?.(); }
}

function runWorker(src: string, dst: string, spec: Spec, timeoutMs: number): Promise<{ ok: boolean; code?: string; message?: string }> {
  return new Promise((resolve) => {
    execFile(PYTHON, [WORKER, src, dst, JSON.stringify(spec)], { timeout: timeoutMs, env: { ...process.env, PYTHONWARNINGS: 'ignore' } }, (err, stdout, stderr) => {
      const line = stdout.trim().split('\n').pop() ?? '';
      try { return resolve(JSON.parse(line)); } catch { /* fall through */ }
      resolve({ ok: false, code: 'Error', message: err ? `cutout worker failed: ${err.message} ${stderr.slice(-500)}` : `cutout worker printed no result: ${stderr.slice(-500)}` });
    });
  });
}

/** SODA (DALI) errors are text/plain "<code>: <message>". */
const sodaError = (reply: FastifyReply, status: number, code: string, message: string) =>
  reply.code(status).type('text/plain; charset=utf-8').send(`${code}: ${message}\n`);

export async function soda(req: FastifyRequest, reply: FastifyReply, deps: GatewayDeps, cfg: IvoaConfig) {
  const src = { ...(req.query as Record<string, unknown>), ...(req.body && typeof req.body === 'object' && !Buffer.isBuffer(req.body) ? req.body as Record<string, unknown> : {}) };
  if (Buffer.isBuffer(req.body)) for (const [k, v] of new URLSearchParams(req.body.toString('utf8'))) (src as Record<string, unknown>)[k] = [...([] as unknown[]).concat(src[k] ?? []), v];
  // DALI: parameter names are case-insensitive.
  const q: Record<string, string[]> = {};
  for (const [k, v] of Object.entries(src)) q[k.toUpperCase()] = [...(q[k.toUpperCase()] ?? []), ...([] as unknown[]).concat(v ?? []).map(String).filter((s) => s.trim() !== '')];
  let spec: Spec;
  try {
    if (!q.ID?.length) throw new SodaUsage('UsageError', 'parameter ID is required');
    spec = parseSoda(q);
  } catch (err) {
    if (err instanceof SodaUsage) return sodaError(reply, 400, err.code, err.message);
    throw err;
  }
  const id = q.ID[0];
  const local = await localFileForDid(deps, cfg, id);
  if (local === 'unknown') return sodaError(reply, 404, 'NotFoundFault', `${id} is not published here`);
  if (!local) return sodaError(reply, 404, 'NotFoundFault', `${id} has no copy held at this site, so it cannot be cut out here`);
  const dir = mkdtempSync(join(tmpdir(), 'dbb-soda-'));
  const out = join(dir, 'cutout.fits');
  const res = await slot(() => runWorker(local.file, out, spec, cfg.sodaTimeoutMs));
  if (!res.ok) {
    rmSync(dir, { recursive: true, force: true });
    if (res.code === 'Error') req.log.error({ id, message: res.message }, 'SODA cutout failed');
    return sodaError(reply, res.code === 'Error' ? 500 : 400, res.code ?? 'Error', res.message ?? 'cutout failed');
  }
  const stream = createReadStream(out);
  stream.on('close', () => rmSync(dir, { recursive: true, force: true }));
  const base = local.name.replace(/\.fits?(\.gz)?$/i, '').replace(/[^\w.+-]/g, '_');
  return reply.type('application/fits').header('content-length', statSync(out).size)
    .header('content-disposition', `attachment; filename="${base}-cutout.fits"`).send(stream);
}

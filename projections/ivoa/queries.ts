// The only SQL the gateway runs for ivoa: cone search over ObsCore (pgSphere index), a DID's
// live replicas for DataLink, and the counts behind `dbb ivoa stats`.
import type pg from 'pg';
import { COLUMN_NAMES } from './obscore.ts';

type Db = Pick<pg.Pool, 'query'>;
export const SCHEMA = 'projection_ivoa';

/** Columns as the gateway reads them: s_region rendered as pgSphere text. */
const SELECT_COLS = COLUMN_NAMES.map((c) => (c === 's_region' ? 'o.s_region::text AS s_region' : `o.${c}`)).join(', ');

export interface ConeRow { [column: string]: unknown; _r: number }

/** Rows whose (s_ra, s_dec) lie within `sr` degrees of (ra, dec), nearest first; `_r` is the distance in degrees.
 *  `schema`: the live projection or a point-in-time snapshot of it (`?as_of=`). */
export async function coneSearch(db: Db, ra: number, dec: number, sr: number, limit: number, schema = SCHEMA): Promise<ConeRow[]> {
  const { rows } = await db.query(
    `SELECT ${SELECT_COLS}, degrees(public.spoint(radians(o.s_ra), radians(o.s_dec)) <-> public.spoint(radians($1), radians($2))) AS _r
       FROM ${schema}.obscore o
      WHERE public.spoint(radians(o.s_ra), radians(o.s_dec)) OPERATOR(public.<@) public.scircle(public.spoint(radians($1), radians($2)), radians($3))
      ORDER BY _r, o.rucio_did_scope, o.rucio_did_name
      LIMIT $4`,
    [ra, dec, sr, limit],
  );
  return rows;
}

export interface ReplicaRow { rse: string; access_url: string; site: string; site_lat: number; site_lon: number }
export interface DidReplicas { obsPublisherDid: string; accessEstsize: number | null; replicas: ReplicaRow[] }

/** The DID's ObsCore identity and its live replicas (unordered), or null when the DID is not published. */
export async function getDidReplicas(db: Db, scope: string, name: string): Promise<DidReplicas | null> {
  const did = await db.query(
    'SELECT obs_publisher_did, access_estsize FROM projection_ivoa.obscore WHERE rucio_did_scope = $1 AND rucio_did_name = $2',
    [scope, name],
  );
  if (did.rowCount === 0) return null;
  const { rows } = await db.query(
    `SELECT rse, access_url, site, site_lat, site_lon FROM projection_ivoa.replicas
      WHERE scope = $1 AND name = $2 AND NOT removed ORDER BY rse`,
    [scope, name],
  );
  return { obsPublisherDid: did.rows[0].obs_publisher_did, accessEstsize: did.rows[0].access_estsize, replicas: rows };
}

/** Coordinates of a named site, from the replicas that mention it. */
export async function getSite(db: Db, site: string): Promise<{ lat: number; lon: number } | null> {
  const { rows } = await db.query('SELECT site_lat AS lat, site_lon AS lon FROM projection_ivoa.replicas WHERE site = $1 AND NOT removed LIMIT 1', [site]);
  return rows[0] ?? null;
}

/** `replicas`: live replicas of published DIDs, i.e. what DataLink can list. */
export interface IvoaCounts { rows: number; dids: number; deletedDids: number; replicas: number }

/** `schema`: the live projection or a point-in-time snapshot of it (`?as_of=`). */
export async function getCounts(db: Db, schema = SCHEMA): Promise<IvoaCounts> {
  const { rows } = await db.query(
    `SELECT (SELECT count(*) FROM ${schema}.obscore)::bigint AS rows,
            (SELECT count(DISTINCT (rucio_did_scope, rucio_did_name)) FROM ${schema}.obscore)::bigint AS dids,
            (SELECT count(*) FROM ${schema}.did_tombstones t
              WHERE NOT EXISTS (SELECT 1 FROM ${schema}.obscore o WHERE o.rucio_did_scope = t.scope AND o.rucio_did_name = t.name))::bigint AS deleted,
            (SELECT count(*) FROM ${schema}.replicas r WHERE NOT r.removed
              AND EXISTS (SELECT 1 FROM ${schema}.obscore o WHERE o.rucio_did_scope = r.scope AND o.rucio_did_name = r.name))::bigint AS replicas`,
  );
  const r = rows[0];
  return { rows: Number(r.rows), dids: Number(r.dids), deletedDids: Number(r.deleted), replicas: Number(r.replicas) };
}

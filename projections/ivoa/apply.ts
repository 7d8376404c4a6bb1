// Applies ivoa row changes inside the consumer's batch transaction (search_path = the projection's
// schema, so a replay into a shadow schema writes there). Changes are collapsed per key (see collapse:
// all changes of one key are ordered by offset) and written with one unnest() statement per table.
// Every table's last_offset (the offset of the last event applied to the row) is the guard.
import type pg from 'pg';
import { OBSCORE_COLUMNS } from './obscore.ts';
import type { RowChange } from './fold.ts';

type Q = Pick<pg.PoolClient, 'query'>;
const ARRAY_TYPE: Record<string, string> = { text: 'text[]', integer: 'integer[]', bigint: 'bigint[]', 'double precision': 'float8[]', spoly: 'text[]' };

const OBS_COLS = OBSCORE_COLUMNS.map((c) => c.name);
const UPSERT_OBSCORE = `
INSERT INTO obscore (${OBS_COLS.join(', ')}, last_offset)
SELECT ${OBSCORE_COLUMNS.map((c) => (c.type === 'spoly' ? `u.${c.name}::public.spoly` : `u.${c.name}`)).join(', ')}, u.last_offset
FROM unnest(${OBSCORE_COLUMNS.map((c, i) => `$${i + 1}::${ARRAY_TYPE[c.type]}`).join(', ')}, $${OBS_COLS.length + 1}::bigint[])
  AS u(${OBS_COLS.join(', ')}, last_offset)
WHERE NOT EXISTS (SELECT 1 FROM did_tombstones t WHERE t.scope = u.rucio_did_scope AND t.name = u.rucio_did_name AND t.last_offset >= u.last_offset)
ON CONFLICT (rucio_did_scope, rucio_did_name) DO UPDATE SET
  ${OBS_COLS.filter((c) => !c.startsWith('rucio_did_')).map((c) => `${c} = EXCLUDED.${c}`).join(', ')}, last_offset = EXCLUDED.last_offset
WHERE obscore.last_offset < EXCLUDED.last_offset`;

const DELETE_DIDS = `
WITH u AS (SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[]) AS u(scope, name, last_offset)),
gone AS (DELETE FROM obscore o USING u WHERE o.rucio_did_scope = u.scope AND o.rucio_did_name = u.name AND o.last_offset < u.last_offset)
INSERT INTO did_tombstones (scope, name, last_offset) SELECT scope, name, last_offset FROM u
ON CONFLICT (scope, name) DO UPDATE SET last_offset = GREATEST(did_tombstones.last_offset, EXCLUDED.last_offset)`;

const UPSERT_REPLICAS = `
INSERT INTO replicas (scope, name, rse, access_url, site, site_lat, site_lon, removed, last_offset)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::float8[], $7::float8[], $8::boolean[], $9::bigint[])
ON CONFLICT (scope, name, rse) DO UPDATE SET
  -- A removal blanks the row, whether or not its ReplicaAdded was folded in the same batch (replay = live).
  access_url = EXCLUDED.access_url, site = EXCLUDED.site, site_lat = EXCLUDED.site_lat, site_lon = EXCLUDED.site_lon,
  removed = EXCLUDED.removed, last_offset = EXCLUDED.last_offset
WHERE replicas.last_offset < EXCLUDED.last_offset`;

/** Last change per replica; per DID the last upsert and the last delete, since a deletion leaves a
 *  tombstone even when the DID is registered again later in the batch. applyChanges writes deletes
 *  before upserts and the offset guards order the two, as handle does event by event. */
export function collapse(changes: RowChange[]): RowChange[] {
  const last = new Map<string, RowChange>();
  for (const c of changes) {
    const k = c.op === 'upsertReplica' || c.op === 'removeReplica' ? `r\0${c.scope}\0${c.name}\0${c.rse}` : `${c.op}\0${c.scope}\0${c.name}`;
    const prev = last.get(k);
    if (!prev || prev.offset <= c.offset) last.set(k, c);
  }
  return [...last.values()];
}

export async function applyChanges(tx: Q, changes: RowChange[]): Promise<void> {
  const upserts: Extract<RowChange, { op: 'upsertObscore' }>[] = [];
  const deletes: Extract<RowChange, { op: 'deleteDid' }>[] = [];
  const replicas: RowChange[] = [];
  for (const c of collapse(changes)) {
    if (c.op === 'upsertObscore') upserts.push(c);
    else if (c.op === 'deleteDid') deletes.push(c);
    else replicas.push(c);
  }
  if (deletes.length) {
    await tx.query(DELETE_DIDS, [deletes.map((d) => d.scope), deletes.map((d) => d.name), deletes.map((d) => d.offset.toString())]);
  }
  if (upserts.length) {
    const params: unknown[] = OBS_COLS.map((c) => upserts.map((u) => u.row[c] ?? null));
    params.push(upserts.map((u) => u.offset.toString()));
    await tx.query(UPSERT_OBSCORE, params);
  }
  if (replicas.length) {
    const r = replicas as any[];
    const removed = r.map((c) => c.op === 'removeReplica');
    await tx.query(UPSERT_REPLICAS, [
      r.map((c) => c.scope), r.map((c) => c.name), r.map((c) => c.rse),
      r.map((c) => c.accessUrl ?? ''), r.map((c) => c.site ?? ''), r.map((c) => c.siteLat ?? 0), r.map((c) => c.siteLon ?? 0),
      removed, r.map((c) => c.offset.toString()),
    ]);
  }
}

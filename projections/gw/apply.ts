// Applies fold.ts row changes inside the projection's batch transaction (search_path = the projection's
// schema, so a replay into a shadow schema writes there). The datastore row's last_offset is the guard.
import type pg from 'pg';
import type { DatastoreSet, RowChange } from './fold.ts';

/** Advances the datastore's offset; false when this event (or a later one) was already applied. */
async function advance(tx: pg.PoolClient, datastoreId: string, offset: string, at: number): Promise<boolean> {
  const { rowCount } = await tx.query(
    `INSERT INTO datastores (datastore_id, dstatus, n_itm, buff_size, last_offset, updated_at)
     VALUES ($1, 'OPERATIONAL', 0, 0, $2, to_timestamp($3 / 1000.0))
     ON CONFLICT (datastore_id) DO UPDATE SET last_offset = EXCLUDED.last_offset, updated_at = EXCLUDED.updated_at
     WHERE datastores.last_offset < EXCLUDED.last_offset`, [datastoreId, offset, at]);
  return rowCount === 1;
}

const DATASTORE_COLUMNS = new Set(['dstatus', 'n_itm', 'buff_size', 'user', 'token_owner', 'last_archive']);

export async function applyChanges(tx: pg.PoolClient, offset: string, occurredAt: number, changes: RowChange[]): Promise<void> {
  if (!changes.length) return;
  if (!(await advance(tx, changes[0].datastoreId, offset, occurredAt))) return;
  for (const c of changes) {
    switch (c.op) {
      case 'datastore': {
        const cols = Object.keys(c.set).filter((k) => DATASTORE_COLUMNS.has(k));
        if (!cols.length) break;
        const sets = cols.map((k, i) => `"${k}" = $${i + 2}`).join(', ');
        await tx.query(`UPDATE datastores SET ${sets} WHERE datastore_id = $1`, [c.datastoreId, ...cols.map((k) => (c.set as Record<string, unknown>)[k])]);
        break;
      }
      case 'addFile':
        await tx.query(
          `INSERT INTO files (datastore_id, file_name, bytes, n_samples, t0, dt, stored_at) VALUES ($1, $2, $3, $4, $5, $6, to_timestamp($7 / 1000.0))
           ON CONFLICT (datastore_id, file_name) DO NOTHING`, [c.datastoreId, c.fileName, c.bytes, c.nSamples, c.t0, c.dt, c.storedAt]);
        break;
      case 'archiveFiles':
        await tx.query('UPDATE files SET archive_path = $2 WHERE datastore_id = $1 AND archive_path IS NULL', [c.datastoreId, c.archivePath]);
        break;
      case 'history':
        await tx.query(
          `INSERT INTO history (datastore_id, event_offset, event_name, occurred_at, correlation_id, actor, body)
           VALUES ($1, $2, $3, to_timestamp($4 / 1000.0), $5, $6, $7) ON CONFLICT DO NOTHING`,
          [c.datastoreId, offset, c.eventName, c.occurredAt, c.correlationId, c.actor, JSON.stringify(c.body)]);
        break;
      default: {
        const never: never = c;
        void never;
      }
    }
  }
}

/** The same as applyChanges for every event of a sub-batch, in a handful of multi-row statements:
 *  per datastore the column changes are merged in offset order; datastores, files, archive marks and
 *  log rows are each written at once. */
export async function applyBatch(tx: pg.PoolClient, events: { offset: string; occurredAt: number; changes: RowChange[] }[]): Promise<void> {
  const withChanges = events.filter((e) => e.changes.length);
  if (!withChanges.length) return;
  const ids = [...new Set(withChanges.map((e) => e.changes[0].datastoreId))];
  const { rows } = await tx.query('SELECT datastore_id, last_offset FROM datastores WHERE datastore_id = ANY($1) FOR UPDATE', [ids]);
  const applied = new Map<string, bigint>(rows.map((r) => [r.datastore_id, BigInt(r.last_offset)]));
  const rowsOf = new Map<string, { set: DatastoreSet; offset: string; at: number }>();
  const files: { c: Extract<RowChange, { op: 'addFile' }>; archivePath: string | null }[] = [];
  const history: { c: Extract<RowChange, { op: 'history' }>; offset: string }[] = [];
  const archived = new Map<string, string>();
  for (const e of withChanges) {
    const id = e.changes[0].datastoreId;
    const seen = applied.get(id);
    if (seen !== undefined && BigInt(e.offset) <= seen) continue; // already applied (duplicate or replay)
    applied.set(id, BigInt(e.offset));
    const row = rowsOf.get(id) ?? { set: {}, offset: e.offset, at: e.occurredAt };
    row.offset = e.offset;
    row.at = e.occurredAt;
    rowsOf.set(id, row);
    for (const c of e.changes) {
      if (c.op === 'datastore') Object.assign(row.set, c.set);
      else if (c.op === 'addFile') files.push({ c, archivePath: null });
      else if (c.op === 'history') history.push({ c, offset: e.offset });
      else if (c.op === 'archiveFiles') {
        // rows already in the table: the datastore's first flush of the batch archives them all; rows of
        // this batch before the flush: in memory
        if (!archived.has(c.datastoreId)) archived.set(c.datastoreId, c.archivePath);
        for (const f of files) if (f.c.datastoreId === c.datastoreId && f.archivePath === null) f.archivePath = c.archivePath;
      }
    }
  }
  if (archived.size) {
    await tx.query(
      'UPDATE files f SET archive_path = u.a FROM unnest($1::text[], $2::text[]) AS u(d, a) WHERE f.datastore_id = u.d AND f.archive_path IS NULL',
      [[...archived.keys()], [...archived.values()]]);
  }
  if (files.length) {
    const col = <K extends keyof Extract<RowChange, { op: 'addFile' }>>(k: K) => files.map((f) => f.c[k]);
    await tx.query(
      `INSERT INTO files (datastore_id, file_name, bytes, n_samples, t0, dt, stored_at, archive_path)
       SELECT d, f, b, n, t0, dt, to_timestamp(s / 1000.0), a FROM unnest($1::text[], $2::text[], $3::bigint[], $4::int[], $5::float8[], $6::float8[], $7::float8[], $8::text[]) AS u(d, f, b, n, t0, dt, s, a)
       ON CONFLICT (datastore_id, file_name) DO NOTHING`,
      [col('datastoreId'), col('fileName'), col('bytes'), col('nSamples'), col('t0'), col('dt'), col('storedAt'), files.map((f) => f.archivePath)]);
  }
  if (history.length) {
    await tx.query(
      `INSERT INTO history (datastore_id, event_offset, event_name, occurred_at, correlation_id, actor, body)
       SELECT d, o, n, to_timestamp(t / 1000.0), c, a, b FROM unnest($1::text[], $2::bigint[], $3::text[], $4::float8[], $5::text[], $6::text[], $7::jsonb[]) AS u(d, o, n, t, c, a, b)
       ON CONFLICT DO NOTHING`,
      [history.map((h) => h.c.datastoreId), history.map((h) => h.offset), history.map((h) => h.c.eventName), history.map((h) => h.c.occurredAt),
        history.map((h) => h.c.correlationId), history.map((h) => h.c.actor), history.map((h) => JSON.stringify(h.c.body))]);
  }
  if (rowsOf.size) {
    const dsIds = [...rowsOf.keys()];
    const dsRows = [...rowsOf.values()];
    // the offset advance of every datastore at once (creating the rows not seen yet), then their columns
    await tx.query(
      `INSERT INTO datastores (datastore_id, dstatus, n_itm, buff_size, last_offset, updated_at)
       SELECT d, 'OPERATIONAL', 0, 0, o, to_timestamp(t / 1000.0) FROM unnest($1::text[], $2::bigint[], $3::float8[]) AS u(d, o, t)
       ON CONFLICT (datastore_id) DO UPDATE SET last_offset = EXCLUDED.last_offset, updated_at = EXCLUDED.updated_at
       WHERE datastores.last_offset < EXCLUDED.last_offset`,
      [dsIds, dsRows.map((r) => r.offset), dsRows.map((r) => r.at)]);
    // fold never sets a column to null, so null here means "not changed by this batch"
    const val = (k: keyof DatastoreSet) => dsRows.map((r) => r.set[k] ?? null);
    await tx.query(
      `UPDATE datastores d SET dstatus = COALESCE(u.s, d.dstatus), n_itm = COALESCE(u.n, d.n_itm), buff_size = COALESCE(u.b, d.buff_size),
         "user" = COALESCE(u.us, d."user"), token_owner = COALESCE(u.tk, d.token_owner), last_archive = COALESCE(u.a, d.last_archive)
       FROM unnest($1::text[], $2::text[], $3::int[], $4::bigint[], $5::text[], $6::text[], $7::text[]) AS u(d, s, n, b, us, tk, a)
       WHERE d.datastore_id = u.d`,
      [dsIds, val('dstatus'), val('n_itm'), val('buff_size'), val('user'), val('token_owner'), val('last_archive')]);
  }
}

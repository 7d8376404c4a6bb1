// The point-in-time snapshots of projections (issue 21.4, docs/history.md): their names, the
// platform.snapshots table, the read-only seal and dropping. Built by replay.ts; read by the gateway's
// `?as_of=` (gateway/as-of.ts).
import type pg from 'pg';
import { quoteIdent, schemaOf } from './db.ts';

type Db = Pick<pg.Pool, 'query'>;

/** A snapshot name: a lower-case identifier, short enough that `<projection schema>_asof_<name>` stays
 *  within Postgres's 63-byte identifier limit. */
export const SNAPSHOT_NAME = '^[a-z][a-z0-9_]{0,31}$';
export const isSnapshotName = (s: string) => new RegExp(SNAPSHOT_NAME).test(s);

/** projection.staging + before_x → projection_staging_asof_before_x */
export const snapshotSchema = (projection: string, name: string) => `${schemaOf(projection)}_asof_${name}`;

export interface SnapshotRecord {
  name: string; projection: string; schema: string; until: string; stopOffsets: Record<string, string>; events: number; createdAt: string;
}

const shape = (r: any): SnapshotRecord => ({
  name: r.name, projection: r.projection, schema: r.schema_name, until: r.until, stopOffsets: r.stop_offsets, events: Number(r.events), createdAt: r.created_at.toISOString(),
});

export async function listSnapshots(db: Db, projection?: string): Promise<SnapshotRecord[]> {
  const { rows } = await db.query('SELECT * FROM platform.snapshots WHERE $1::text IS NULL OR projection = $1 ORDER BY created_at, name, projection', [projection ?? null]);
  return rows.map(shape);
}

/** The schema of snapshot `name` of `projection`, or null when there is none (or the name is not one). */
export async function findSnapshotSchema(db: Db, projection: string, name: string): Promise<string | null> {
  if (!isSnapshotName(name)) return null;
  const { rows } = await db.query('SELECT schema_name FROM platform.snapshots WHERE projection = $1 AND name = $2', [projection, name]);
  return rows[0]?.schema_name ?? null;
}

/** Records a built snapshot and makes its schema read-only: REVOKE for ordinary roles, and a statement
 *  trigger on every table that refuses writes by anyone (superusers ignore privileges). */
export async function sealSnapshot(tx: pg.PoolClient, rec: Omit<SnapshotRecord, 'createdAt'>): Promise<void> {
  const s = quoteIdent(rec.schema);
  await tx.query(`REVOKE CREATE ON SCHEMA ${s} FROM PUBLIC, CURRENT_USER`);
  await tx.query(`REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON ALL TABLES IN SCHEMA ${s} FROM PUBLIC, CURRENT_USER`);
  const { rows } = await tx.query(`SELECT tablename FROM pg_tables WHERE schemaname = $1`, [rec.schema]);
  for (const { tablename } of rows) {
    await tx.query(`CREATE TRIGGER snapshot_read_only BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON ${s}.${quoteIdent(tablename)}
      FOR EACH STATEMENT EXECUTE FUNCTION platform.snapshot_read_only()`);
  }
  await tx.query(
    'INSERT INTO platform.snapshots (name, projection, schema_name, until, stop_offsets, events) VALUES ($1, $2, $3, $4, $5, $6)',
    [rec.name, rec.projection, rec.schema, rec.until, JSON.stringify(rec.stopOffsets), rec.events]);
}

/** Drops snapshot `name` (of one projection, or of every projection that has one); returns the schemas dropped. */
export async function dropSnapshot(db: pg.Pool, name: string, projection?: string): Promise<string[]> {
  const client = await db.connect();
  try {
    await client.query('BEGIN');
    const { rows } = await client.query('DELETE FROM platform.snapshots WHERE name = $1 AND ($2::text IS NULL OR projection = $2) RETURNING schema_name', [name, projection ?? null]);
    for (const r of rows) await client.query(`DROP SCHEMA IF EXISTS ${quoteIdent(r.schema_name)} CASCADE`);
    await client.query('COMMIT');
    return rows.map((r) => r.schema_name);
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    client.release();
  }
}

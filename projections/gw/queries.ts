// The only SQL the gateway runs for gw: seed-shaped reads of projection_gw (StatDesc.json, Dsstat.json,
// the stored file list and the datastore's log).
import type pg from 'pg';

type Db = Pick<pg.Pool, 'query'>;

export interface DatastoreView {
  datastoreId: string;
  dstatus: 'OPERATIONAL' | 'FROZEN';
  n_itm: number;
  buff_size: number;
  user: string;
  tokenOwner: string;
  lastArchive: string | null;
  updatedAt: string | null;
}

/** A datastore nobody has written to yet is OPERATIONAL and empty (as the seed's fresh Databuffcomp). */
export async function getDatastore(db: Db, datastoreId: string): Promise<DatastoreView> {
  const { rows } = await db.query(
    `SELECT dstatus, n_itm, buff_size, "user", token_owner, last_archive, updated_at FROM projection_gw.datastores WHERE datastore_id = $1`, [datastoreId]);
  const r = rows[0];
  if (!r) return { datastoreId, dstatus: 'OPERATIONAL', n_itm: 0, buff_size: 0, user: '', tokenOwner: '', lastArchive: null, updatedAt: null };
  return {
    datastoreId, dstatus: r.dstatus, n_itm: Number(r.n_itm), buff_size: Number(r.buff_size), user: r.user, tokenOwner: r.token_owner,
    lastArchive: r.last_archive, updatedAt: r.updated_at ? new Date(r.updated_at).toISOString() : null,
  };
}

export async function listDatastores(db: Db): Promise<DatastoreView[]> {
  const { rows } = await db.query('SELECT datastore_id FROM projection_gw.datastores ORDER BY datastore_id');
  return Promise.all(rows.map((r) => getDatastore(db, r.datastore_id)));
}

/** Names of the files in the buffer (not yet archived), oldest first: the seed's /dumpbuf nmlist. */
export async function listBufferFiles(db: Db, datastoreId: string): Promise<string[]> {
  const { rows } = await db.query(
    'SELECT file_name FROM projection_gw.files WHERE datastore_id = $1 AND archive_path IS NULL ORDER BY file_name', [datastoreId]);
  return rows.map((r) => r.file_name);
}

export interface FileView { fileName: string; bytes: number; nSamples: number; t0: number; dt: number; storedAt: string; archivePath: string | null }

export async function listArchivedFiles(db: Db, datastoreId: string, archivePath: string): Promise<FileView[]> {
  const { rows } = await db.query(
    `SELECT file_name, bytes, n_samples, t0, dt, stored_at, archive_path FROM projection_gw.files
     WHERE datastore_id = $1 AND archive_path = $2 ORDER BY file_name`, [datastoreId, archivePath]);
  return rows.map((r) => ({
    fileName: r.file_name, bytes: Number(r.bytes), nSamples: r.n_samples, t0: r.t0, dt: r.dt,
    storedAt: new Date(r.stored_at).toISOString(), archivePath: r.archive_path,
  }));
}

export interface HistoryEntry { offset: number; event: string; occurredAt: string; correlationId: string; actor: string | null; body: Record<string, unknown> }

/** The datastore's event log, newest last (the seed's /dumpflog); `limit` newest entries. */
export async function getHistory(db: Db, datastoreId: string, limit = 1000): Promise<HistoryEntry[]> {
  const { rows } = await db.query(
    `SELECT * FROM (SELECT event_offset, event_name, occurred_at, correlation_id, actor, body FROM projection_gw.history
     WHERE datastore_id = $1 ORDER BY event_offset DESC LIMIT $2) h ORDER BY event_offset`, [datastoreId, limit]);
  return rows.map((r) => ({
    offset: Number(r.event_offset), event: r.event_name, occurredAt: new Date(r.occurred_at).toISOString(),
    correlationId: r.correlation_id, actor: r.actor, body: r.body,
  }));
}

export interface IndexedChunk { fileName: string; t0: number; dt: number; n: number; archivePath: string | null }

const indexed = (r: { file_name: string; t0: number; dt: number; n_samples: number; archive_path: string | null }): IndexedChunk =>
  ({ fileName: r.file_name, t0: r.t0, dt: r.dt, n: r.n_samples, archivePath: r.archive_path });

/** Whether the datastore has ever had an outcome event (so it exists for the reads). */
export async function datastoreExists(db: Db, datastoreId: string): Promise<boolean> {
  const { rowCount } = await db.query('SELECT 1 FROM projection_gw.datastores WHERE datastore_id = $1', [datastoreId]);
  return rowCount === 1;
}

/** The chunk starting last at or before `t`, else the first after it: a sample grid for a window; null if the datastore stored none. */
export async function chunkNear(db: Db, datastoreId: string, t: number): Promise<IndexedChunk | null> {
  const { rows } = await db.query(
    `(SELECT file_name, t0, dt, n_samples, archive_path FROM projection_gw.files WHERE datastore_id = $1 AND t0 <= $2 ORDER BY t0 DESC LIMIT 1)
     UNION ALL
     (SELECT file_name, t0, dt, n_samples, archive_path FROM projection_gw.files WHERE datastore_id = $1 AND t0 > $2 ORDER BY t0 LIMIT 1)`, [datastoreId, t]);
  return rows[0] ? indexed(rows[0]) : null;
}

/** Chunks (buffer and archived) whose span [t0, t0+n*dt) meets [from, to), in storage order; at most `limit`. */
export async function chunksBetween(db: Db, datastoreId: string, from: number, to: number, limit: number): Promise<IndexedChunk[]> {
  const { rows } = await db.query(
    `SELECT file_name, t0, dt, n_samples, archive_path FROM projection_gw.files
     WHERE numrange(t0::numeric, (t0 + n_samples * dt)::numeric) && numrange($2::float8::numeric, $3::float8::numeric) AND datastore_id = $1
     ORDER BY file_name LIMIT $4`, [datastoreId, from, to, limit]);
  return rows.map(indexed);
}

export interface ArchiveView { batch: string; archivePath: string; n_f: number; samples: number; t0: number; t1: number; dt: number; mixedDt: boolean }

/** The datastore's archived batches (one per /cleanbuf that archived chunks) with the time span they hold, oldest first. */
export async function listArchives(db: Db, datastoreId: string): Promise<ArchiveView[]> {
  const { rows } = await db.query(
    `SELECT archive_path, count(*)::int AS n_f, sum(n_samples)::bigint AS samples, min(t0) AS t0, max(t0 + n_samples * dt) AS t1, min(dt) AS dt, max(dt) AS dt_max
     FROM projection_gw.files WHERE datastore_id = $1 AND archive_path IS NOT NULL GROUP BY archive_path ORDER BY min(file_name)`, [datastoreId]);
  return rows.map((r) => ({
    batch: String(r.archive_path).split('/').pop()!, archivePath: r.archive_path, n_f: r.n_f, samples: Number(r.samples),
    t0: r.t0, t1: r.t1, dt: r.dt, mixedDt: r.dt !== r.dt_max,
  }));
}

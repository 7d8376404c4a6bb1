// Applies fold.ts row changes inside the projection's batch transaction (search_path = the projection's
// schema, so a replay into a shadow schema writes there). The datastore row's last_offset is the guard.
import type pg from 'pg';
import type { RowChange } from './fold.ts';

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

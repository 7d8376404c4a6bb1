// A processor's state per key as one jsonb row (`<key column>, state, updated_at`): loaded for a whole
// batch with one query and saved with one multi-row upsert. Table and column names are the caller's
// constants, never input.
import type pg from 'pg';

export function jsonStateTable<S extends object>(table: string, keyColumn: string, initial: () => S, opts: { lock?: boolean } = {}) {
  const lock = opts.lock ? ` ORDER BY ${keyColumn} FOR UPDATE` : '';
  return {
    /** The states of `ids`; a key without a row gets `initial()` (fields added later get their defaults). */
    async load(tx: pg.PoolClient, ids: string[]): Promise<Map<string, S>> {
      const { rows } = await tx.query(`SELECT ${keyColumn} AS id, state FROM ${table} WHERE ${keyColumn} = ANY($1::text[])${lock}`, [ids]);
      const states = new Map<string, S>(ids.map((id) => [id, initial()]));
      for (const r of rows) states.set(r.id as string, { ...initial(), ...(r.state as S) });
      return states;
    },
    async save(tx: pg.PoolClient, states: Map<string, S>): Promise<void> {
      if (!states.size) return;
      await tx.query(
        `INSERT INTO ${table} (${keyColumn}, state, updated_at) SELECT *, now() FROM unnest($1::text[], $2::jsonb[])
         ON CONFLICT (${keyColumn}) DO UPDATE SET state = EXCLUDED.state, updated_at = now()`,
        [[...states.keys()], [...states.values()].map((s) => JSON.stringify(s))],
      );
    },
  };
}

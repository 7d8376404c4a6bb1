// The Registry plugin registers concurrent calls together (one multi-row INSERT per pool connection);
// the outcomes must be those of one-by-one registration: a data id held by another file is refused
// (also when both files are in the same batch: the first one wins), the same file twice succeeds twice.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { createRegistryPlugin } from '../../processors/ingest/plugins/registry.ts';

const databaseUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const file = (fileId: string, relPath: string) => ({ fileId, path: `/storage/${relPath}`, relPath, checksum: `c-${fileId}`, attempt: 1 });

describe('Registry plugin, batched registration', () => {
  it('gives the outcomes of one-by-one registration for concurrent calls', async () => {
    const schema = `registry_batch_${randomBytes(4).toString('hex')}`;
    // data id = the exposure number in the name; poolSize 1: the calls of one event-loop turn go as one batch
    const plugin = createRegistryPlugin({ schema, namePattern: '^exp(?<exp>\\d+)', poolSize: 1 }, { databaseUrl });
    const pool = new pg.Pool({ connectionString: databaseUrl, max: 1 });
    try {
      expect(plugin.repeatable).toBe(true);
      const ok = await Promise.all([file('a', 'exp1-a.dat'), file('b', 'exp2-b.dat'), file('c', 'exp3-c.dat')].map((f) => plugin.ingest(f)));
      expect(ok.map((r) => r.status)).toEqual(['SUCCESS', 'SUCCESS', 'SUCCESS']);

      // d, e, f, g as one batch, which the data id of e refuses: then one by one, in order
      const mixed = await Promise.all([
        file('d', 'exp4-d.dat'), // new
        file('e', 'exp2-e.dat'), // data id of b, registered before
        file('f', 'exp5-f.dat'), // new
        file('g', 'exp5-g.dat'), // data id of f, in the same batch: f wins
      ].map((f) => plugin.ingest(f)));
      expect(mixed.map((r) => r.status)).toEqual(['SUCCESS', 'FAILURE', 'SUCCESS', 'FAILURE']);
      expect(mixed[1]).toMatchObject({ error: expect.stringMatching(/already registered by file b/) });
      expect(mixed[3]).toMatchObject({ error: expect.stringMatching(/already registered by file f/) });
      // a again (repeatable), twice in one batch
      const again = await Promise.all([file('h', 'exp6-h.dat'), file('a', 'exp1-a.dat'), file('a', 'exp1-a.dat')].map((f) => plugin.ingest(f)));
      expect(again.map((r) => r.status)).toEqual(['SUCCESS', 'SUCCESS', 'SUCCESS']);

      const { rows } = await pool.query(`SELECT file_id, data_id FROM "${schema}".datasets ORDER BY file_id`);
      expect(rows).toEqual([
        { file_id: 'a', data_id: { exp: '1' } }, { file_id: 'b', data_id: { exp: '2' } }, { file_id: 'c', data_id: { exp: '3' } },
        { file_id: 'd', data_id: { exp: '4' } }, { file_id: 'f', data_id: { exp: '5' } }, { file_id: 'h', data_id: { exp: '6' } },
      ]);
      expect(await plugin.reconcile!(file('d', 'exp4-d.dat'))).toMatchObject({ status: 'SUCCESS' });
    } finally {
      await plugin.close?.();
      await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).finally(() => pool.end());
    }
  });
});

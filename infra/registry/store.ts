// Postgres storage of the built-in registry: global schema ids, subject versions and
// per-subject compatibility. Writes serialize on one advisory lock (registrations are rare).
import pg from 'pg';
import type avro from 'avsc';
import { createHash } from 'node:crypto';
import { checkCompatibility, parseAvro, type Level } from './compat.ts';

const LOCK_KEY = 80810001;
const DEFAULT_LEVEL: Level = 'BACKWARD';
const GLOBAL = '';

export class RegistryError extends Error {
  constructor(readonly status: number, readonly code: number, message: string) {
    super(message);
  }
}

export interface VersionRow { subject: string; version: number; id: number; schema: string; schemaType: string }

const DDL = `
CREATE TABLE IF NOT EXISTS schemas (
  id          serial PRIMARY KEY,
  schema_type text NOT NULL,
  hash        text NOT NULL,
  schema      text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  UNIQUE (schema_type, hash)
);
CREATE TABLE IF NOT EXISTS subject_versions (
  subject    text NOT NULL,
  version    integer NOT NULL,
  schema_id  integer NOT NULL REFERENCES schemas(id),
  deleted    boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (subject, version)
);
CREATE INDEX IF NOT EXISTS subject_versions_schema ON subject_versions (schema_id);
CREATE TABLE IF NOT EXISTS configs (
  subject       text PRIMARY KEY,
  compatibility text NOT NULL
);`;

const hashOf = (canonical: string) => createHash('sha256').update(canonical).digest('hex');

export class Store {
  readonly pool: pg.Pool;
  private readonly parsed = new Map<number, avro.Type>();

  constructor(databaseUrl: string) {
    this.pool = new pg.Pool({ connectionString: databaseUrl, max: 4 });
    // an idle connection dropped by the server must not crash the registry; the pool reconnects
    this.pool.on('error', (err) => console.error(new Date().toISOString(), 'postgres connection lost:', err.message));
  }

  async init(): Promise<void> {
    await this.tx(async (c) => { await c.query(DDL); });
  }

  async close(): Promise<void> {
    await this.pool.end();
  }

  private async tx<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    const c = await this.pool.connect();
    try {
      await c.query('BEGIN');
      await c.query('SELECT pg_advisory_xact_lock($1)', [LOCK_KEY]);
      const out = await fn(c);
      await c.query('COMMIT');
      return out;
    } catch (err) {
      await c.query('ROLLBACK').catch(() => {});
      throw err;
    } finally {
      c.release();
    }
  }

  private typeOf(id: number, schema: string): avro.Type {
    let t = this.parsed.get(id);
    if (!t) {
      t = parseAvro(schema).type;
      this.parsed.set(id, t);
    }
    return t;
  }

  async subjects(opts: { deleted?: boolean; prefix?: string } = {}): Promise<string[]> {
    const r = await this.pool.query<{ subject: string }>(
      `SELECT DISTINCT subject FROM subject_versions WHERE ($1 OR NOT deleted) AND subject LIKE $2 ORDER BY subject`,
      [opts.deleted ?? false, `${(opts.prefix ?? '').replace(/[\\%_]/g, '\\$&')}%`],
    );
    return r.rows.map((x) => x.subject);
  }

  private async rows(q: pg.Pool | pg.PoolClient, subject: string, deleted = false): Promise<VersionRow[]> {
    const r = await q.query<VersionRow>(
      `SELECT v.subject, v.version, s.id, s.schema, s.schema_type AS "schemaType"
         FROM subject_versions v JOIN schemas s ON s.id = v.schema_id
        WHERE v.subject = $1 AND ($2 OR NOT v.deleted) ORDER BY v.version`,
      [subject, deleted],
    );
    return r.rows;
  }

  async versions(subject: string, deleted = false): Promise<number[]> {
    const rows = await this.rows(this.pool, subject, deleted);
    if (rows.length === 0) throw subjectNotFound(subject);
    return rows.map((r) => r.version);
  }

  async version(subject: string, version: string): Promise<VersionRow> {
    const rows = await this.rows(this.pool, subject);
    if (rows.length === 0) throw subjectNotFound(subject);
    const row = version === 'latest' || version === '-1' ? rows.at(-1) : rows.find((r) => r.version === parseVersion(version));
    if (!row) throw new RegistryError(404, 40402, `Version ${version} not found.`);
    return row;
  }

  async schemaById(id: number): Promise<{ schema: string; schemaType: string }> {
    const r = await this.pool.query(`SELECT schema, schema_type AS "schemaType" FROM schemas WHERE id = $1`, [id]);
    if (r.rowCount === 0) throw new RegistryError(404, 40403, `Schema ${id} not found`);
    return r.rows[0];
  }

  async idUsage(id: number): Promise<{ subject: string; version: number }[]> {
    await this.schemaById(id);
    const r = await this.pool.query(`SELECT subject, version FROM subject_versions WHERE schema_id = $1 AND NOT deleted ORDER BY subject, version`, [id]);
    return r.rows;
  }

  /** Finds the version of `subject` holding exactly this schema. */
  async lookup(subject: string, schema: string, schemaType: string): Promise<VersionRow> {
    const { canonical } = parse(schema, schemaType);
    const rows = await this.rows(this.pool, subject);
    if (rows.length === 0) throw subjectNotFound(subject);
    const hit = rows.find((r) => r.schemaType === schemaType && r.schema === canonical);
    if (!hit) throw new RegistryError(404, 40403, 'Schema not found');
    return hit;
  }

  async register(subject: string, schema: string, schemaType: string): Promise<{ id: number }> {
    const { type, canonical } = parse(schema, schemaType);
    return this.tx(async (c) => {
      const rows = await this.rows(c, subject);
      const same = rows.find((r) => r.schemaType === schemaType && r.schema === canonical);
      if (same) return { id: same.id };
      const level = await this.levelOf(c, subject);
      const problems = checkCompatibility(level, type, rows.map((r) => this.typeOf(r.id, r.schema)));
      if (problems.length) {
        throw new RegistryError(409, 409, `Schema being registered is incompatible with an earlier schema for subject "${subject}": ${problems.join('; ')}`);
      }
      const hash = hashOf(canonical);
      await c.query(`INSERT INTO schemas (schema_type, hash, schema) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`, [schemaType, hash, canonical]);
      const { rows: [s] } = await c.query<{ id: number }>(`SELECT id FROM schemas WHERE schema_type = $1 AND hash = $2`, [schemaType, hash]);
      const { rows: [v] } = await c.query<{ next: number }>(`SELECT coalesce(max(version), 0) + 1 AS next FROM subject_versions WHERE subject = $1`, [subject]);
      // a soft-deleted version holding the same schema is revived rather than duplicated
      const revived = await c.query(`UPDATE subject_versions SET deleted = false WHERE subject = $1 AND schema_id = $2 AND deleted`, [subject, s.id]);
      if (revived.rowCount === 0) await c.query(`INSERT INTO subject_versions (subject, version, schema_id) VALUES ($1, $2, $3)`, [subject, v.next, s.id]);
      return { id: s.id };
    });
  }

  async testCompatibility(subject: string, version: string | null, schema: string, schemaType: string): Promise<string[]> {
    const { type } = parse(schema, schemaType);
    const rows = await this.rows(this.pool, subject);
    const level = await this.levelOf(this.pool, subject);
    if (version === null) return checkCompatibility(level, type, rows.map((r) => this.typeOf(r.id, r.schema)));
    if (rows.length === 0) throw subjectNotFound(subject);
    const row = await this.version(subject, version);
    // against one given version: the level's direction, not its transitivity
    const base = level.replace('_TRANSITIVE', '') as Level;
    return checkCompatibility(base, type, [this.typeOf(row.id, row.schema)]);
  }

  async deleteSubject(subject: string, permanent: boolean): Promise<number[]> {
    return this.tx(async (c) => {
      const rows = await this.rows(c, subject, permanent);
      if (rows.length === 0) throw subjectNotFound(subject);
      if (permanent) {
        await c.query(`DELETE FROM subject_versions WHERE subject = $1`, [subject]);
        await c.query(`DELETE FROM configs WHERE subject = $1`, [subject]);
      } else await c.query(`UPDATE subject_versions SET deleted = true WHERE subject = $1`, [subject]);
      return rows.map((r) => r.version);
    });
  }

  async deleteVersion(subject: string, version: string, permanent: boolean): Promise<number> {
    return this.tx(async (c) => {
      const rows = await this.rows(c, subject, permanent);
      if (rows.length === 0) throw subjectNotFound(subject);
      const row = version === 'latest' || version === '-1' ? rows.at(-1) : rows.find((r) => r.version === parseVersion(version));
      if (!row) throw new RegistryError(404, 40402, `Version ${version} not found.`);
      if (permanent) await c.query(`DELETE FROM subject_versions WHERE subject = $1 AND version = $2`, [subject, row.version]);
      else await c.query(`UPDATE subject_versions SET deleted = true WHERE subject = $1 AND version = $2`, [subject, row.version]);
      return row.version;
    });
  }

  private async levelOf(q: pg.Pool | pg.PoolClient, subject: string): Promise<Level> {
    const r = await q.query<{ subject: string; compatibility: Level }>(`SELECT subject, compatibility FROM configs WHERE subject = ANY($1)`, [[subject, GLOBAL]]);
    return (r.rows.find((x) => x.subject === subject) ?? r.rows.find((x) => x.subject === GLOBAL))?.compatibility ?? DEFAULT_LEVEL;
  }

  async getConfig(subject: string | null, defaultToGlobal = false): Promise<Level> {
    if (subject === null) return this.levelOf(this.pool, GLOBAL);
    const r = await this.pool.query<{ compatibility: Level }>(`SELECT compatibility FROM configs WHERE subject = $1`, [subject]);
    if (r.rows[0]) return r.rows[0].compatibility;
    if (defaultToGlobal) return this.levelOf(this.pool, GLOBAL);
    throw new RegistryError(404, 40408, `Subject '${subject}' does not have subject-level compatibility configured`);
  }

  async setConfig(subject: string | null, level: Level): Promise<void> {
    await this.pool.query(
      `INSERT INTO configs (subject, compatibility) VALUES ($1, $2) ON CONFLICT (subject) DO UPDATE SET compatibility = EXCLUDED.compatibility`,
      [subject ?? GLOBAL, level],
    );
  }

  async deleteConfig(subject: string): Promise<Level> {
    const r = await this.pool.query<{ compatibility: Level }>(`DELETE FROM configs WHERE subject = $1 RETURNING compatibility`, [subject]);
    if (!r.rows[0]) throw new RegistryError(404, 40408, `Subject '${subject}' does not have subject-level compatibility configured`);
    return r.rows[0].compatibility;
  }
}

function parse(schema: string, schemaType: string) {
  if (schemaType !== 'AVRO') throw new RegistryError(422, 42201, `Invalid schema: schema type ${schemaType} is not supported by this registry (AVRO only)`);
  if (typeof schema !== 'string' || schema.length === 0) throw new RegistryError(422, 42201, 'Invalid schema: empty');
  try {
    return parseAvro(schema);
  } catch (err) {
    throw new RegistryError(422, 42201, (err as Error).message);
  }
}

function parseVersion(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new RegistryError(422, 42202, `The specified version '${v}' is not a valid version id. Allowed values are between [1, 2^31-1] and the string "latest"`);
  return n;
}

const subjectNotFound = (subject: string) => new RegistryError(404, 40401, `Subject '${subject}' not found.`);

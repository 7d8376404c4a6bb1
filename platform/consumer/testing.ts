// Unit-test support for the consumer pieces: a throwaway Postgres database (127.0.0.1:5432, user
// postgres, trust auth; PGHOST/PGPORT/PGUSER override) with the platform and one consumer schema
// migrated, dropped after the file. No Kafka: messages are plain KafkaMessage objects.
import pg from 'pg';
import type { KafkaMessage } from 'kafkajs';
import { createPool, migrateConsumerSchema, migratePlatform, quoteIdent, type Db } from '../db.ts';

const base = () => `postgres://${process.env.PGUSER ?? 'postgres'}@${process.env.PGHOST ?? '127.0.0.1'}:${process.env.PGPORT ?? '5432'}`;

export interface ThrowawayDb {
  url: string;
  db: Db;
  /** The consumer schema (migrated), and its quoted form. */
  schema: string;
  q: string;
  drop(): Promise<void>;
}

export async function throwawayDb(label: string, schema = 'unit_consumer'): Promise<ThrowawayDb> {
  const name = `dbb_unit_${label.replace(/\W/g, '_')}_${process.pid}_${Date.now().toString(36)}`;
  const admin = new pg.Client({ connectionString: `${base()}/postgres` });
  await admin.connect();
  try { await admin.query(`CREATE DATABASE ${quoteIdent(name)}`); } finally { await admin.end(); }
  const url = `${base()}/${name}`;
  await migratePlatform(url);
  await migrateConsumerSchema(url, schema, undefined);
  const db = createPool(url, 4);
  return {
    url, db, schema, q: quoteIdent(schema),
    async drop() {
      // FORCE ends connections a failed test left checked out (a hung effect), so the database goes even then
      const a = new pg.Client({ connectionString: `${base()}/postgres` });
      await a.connect();
      try { await a.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`); } finally { await a.end(); }
      await Promise.race([db.end(), new Promise((r) => setTimeout(r, 1000).unref())]);
    },
  };
}

/** A fetched record as kafkajs hands it to eachBatch. */
export function message(offset: number | string, value: Buffer | null, opts: { key?: string; headers?: KafkaMessage['headers'] } = {}): KafkaMessage {
  return { offset: String(offset), key: opts.key === undefined ? null : Buffer.from(opts.key), value, headers: opts.headers ?? {}, timestamp: '0', attributes: 0 } as KafkaMessage;
}

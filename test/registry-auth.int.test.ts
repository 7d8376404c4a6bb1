// Registry basic auth end to end: the built-in registry started with credentials refuses a client
// without them (401) or with a wrong password, and the platform's serde registers and reads schemas
// with SCHEMA_REGISTRY_USERNAME / SCHEMA_REGISTRY_PASSWORD_FILE.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createRegistryServer } from '../infra/registry/server.ts';
import { Store } from '../infra/registry/store.ts';
import { loadCatalog } from '../platform/catalog.ts';
import { loadConfig } from '../platform/config.ts';
import { Serde } from '../platform/registry.ts';

const BASE = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const dbName = `dbb_t${randomBytes(4).toString('hex')}_registry`;
const PASSWORD = randomBytes(12).toString('hex');
const dir = mkdtempSync(join(tmpdir(), 'dbb-registry-auth-'));
let store: Store;
let server: ReturnType<typeof createRegistryServer>;
let url = '';

async function admin(sql: string) {
  const u = new URL(BASE); u.pathname = '/postgres';
  const c = new pg.Client({ connectionString: u.toString() });
  await c.connect();
  try { await c.query(sql); } finally { await c.end(); }
}

beforeAll(async () => {
  await admin(`CREATE DATABASE "${dbName}"`);
  const u = new URL(BASE); u.pathname = `/${dbName}`;
  store = new Store(u.toString());
  await store.init();
  server = createRegistryServer(store, { basicAuth: `dbb:${PASSWORD}` });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/apis/ccompat/v7`;
  writeFileSync(join(dir, 'pw'), `${PASSWORD}\n`, { mode: 0o600 });
});

afterAll(async () => {
  await new Promise<void>((r) => server?.close(() => r()));
  await store?.close();
  await admin(`DROP DATABASE IF EXISTS "${dbName}" WITH (FORCE)`).catch(() => {});
  rmSync(dir, { recursive: true, force: true });
});

const catalog = loadCatalog();

it('refuses requests without credentials or with a wrong password (401)', async () => {
  expect((await fetch(`${url}/subjects`)).status).toBe(401);
  const wrong = Buffer.from('dbb:nope').toString('base64');
  expect((await fetch(`${url}/subjects`, { headers: { authorization: `Basic ${wrong}` } })).status).toBe(401);
  const config = loadConfig({ DBB_NAMESPACE: 'auth1.', SCHEMA_REGISTRY_URL: url });
  await expect(new Serde(catalog, config).registerAll()).rejects.toThrow();
});

it('the serde registers, encodes and decodes with basic auth from SCHEMA_REGISTRY_PASSWORD_FILE', async () => {
  const config = loadConfig({ DBB_NAMESPACE: 'auth1.', SCHEMA_REGISTRY_URL: url, SCHEMA_REGISTRY_USERNAME: 'dbb', SCHEMA_REGISTRY_PASSWORD_FILE: join(dir, 'pw') });
  const serde = new Serde(catalog, config);
  await serde.registerAll();
  const body = serde.encode('SampleRecorded', { meta: { eventId: 'e1', occurredAt: 1, correlationId: 'c1', causationId: null, actor: null, source: 't' }, sampleId: 's1', value: 1, payload: Buffer.alloc(0) });
  // a fresh serde reads the writer schema by id from the registry, with the same credentials
  const decoded = await new Serde(catalog, config).decode(body);
  expect(decoded.entry.name).toBe('SampleRecorded');
  expect(decoded.value.sampleId).toBe('s1');
  expect((await fetch(`${url}/subjects`, { headers: { authorization: `Basic ${Buffer.from(`dbb:${PASSWORD}`).toString('base64')}` } })).status).toBe(200);
});

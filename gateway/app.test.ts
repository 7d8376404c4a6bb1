// The gateway's input rules without a stack: JSON bodies are validated without type coercion (query
// strings still are), a route with a JSON body schema needs a JSON body, and control routes take at
// most 1 MiB (413 problem+json) while the GW chunk upload route takes GW_MAX_CHUNK_BYTES.
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../platform/config.ts';
import { ReplyTimeoutError } from '../platform/errors.ts';
import { buildApp, CONTROL_BODY_LIMIT } from './app.ts';
import { createAuth, hashToken } from './plugins/auth.ts';
import type { App } from './types.ts';

const dir = mkdtempSync(join(tmpdir(), 'dbb-app-test-'));
const appended: { name: string; body: unknown }[] = [];
const requested: { name: string; body: unknown }[] = [];
let app: App;
/** a GW chunk with this t0 fails its append (the broker is away) */
const APPEND_FAILS = 13;

beforeAll(async () => {
  const env = {
    DBB_STATE_DIR: dir, DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none', DBB_TOKENS: `op:operator:${hashToken('op-token')}`,
    TAPE_SCOUT_URLS: 'http://127.0.0.1:1', GW_MAX_CHUNK_BYTES: String(4 * 1024 * 1024),
  };
  const config = loadConfig(env);
  const db = new pg.Pool({ connectionString: config.databaseUrl, connectionTimeoutMillis: 200 });
  db.on('error', () => {});
  app = await buildApp({
    config, env, db, log: pino({ level: 'silent' }), auth: createAuth(config),
    appender: { append: async (name: string, _key: string, body: unknown) => { appended.push({ name, body }); return { eventId: 'e', correlationId: 'c' }; } } as never,
    replies: {
      request: async (name: string, _key: string, body: unknown) => {
        requested.push({ name, body });
        if ((body as { t0?: number }).t0 === APPEND_FAILS) throw new Error('broker unreachable');
        throw new ReplyTimeoutError('c', 1);
      },
      subscribe: () => () => {},
      correlationId: () => '00000000-0000-8000-8000-000000000000',
    } as never,
  });
}, 60_000);

afterAll(async () => {
  await app?.close();
  rmSync(dir, { recursive: true, force: true });
});

const auth = { authorization: 'Bearer op-token' };
const post = (url: string, payload?: unknown, headers: Record<string, string> = {}) => app.inject({
  method: 'POST', url, headers: { ...auth, ...(payload === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
  payload: payload === undefined ? undefined : typeof payload === 'string' || Buffer.isBuffer(payload) ? payload : JSON.stringify(payload),
});

describe('strict JSON bodies', () => {
  it.each([
    ['/staging', { job_id: 1, files: '/a/b.fits', notify_url: 'http://203.0.113.5/cb' }],
    ['/staging', { job_id: '1', files: ['/a/b.fits'], notify_url: 'http://203.0.113.5/cb' }],
    ['/filestatus', { files: '/x' }],
    ['/filestatus', { files: [1, 2] }],
    ['/filestatus', null],
    ['/filestatus', [{ files: ['/x'] }]],
    ['/stage_data?method=local_copy&username=alice', { local_path_on_storage: 5, relative_path: 'x' }],
    ['/api/v1/console/test-files', { path: 'a', size_bytes: '10' }],
    ['/api/v1/events/SampleRecorded', { key: 1, body: {} }],
    ['/api/v1/staging/requests/x/rerun', { reason: 7 }],
    ['/api/v1/staging/requests/x/rerun', null],
  ])('POST %s %j → 400 problem+json, nothing appended', async (url, body) => {
    const res = await post(url, body);
    expect(res.statusCode, res.body).toBe(400);
    expect(res.headers['content-type']).toContain('application/problem+json');
    expect(res.json().code).toBe('DBB_VALIDATION');
    expect(appended).toEqual([]);
    expect(requested).toEqual([]);
  });

  it('lets a body marked Optional be left out, but not nulled', async () => {
    const res = await app.inject({ method: 'POST', url: '/api/v1/staging/requests/x/rerun', headers: auth });
    expect(res.json().code).not.toBe('DBB_VALIDATION');
    expect(requested.splice(0).map((r) => r.name)).toEqual(['StagingRerunRequested']); // the processor decides
  });

  it('still coerces query strings (limit=5 is a number, not a 400)', async () => {
    const res = await app.inject({ method: 'GET', url: '/api/v1/staging/requests?limit=abc', headers: auth });
    expect(res.statusCode).toBe(400);
    const ok = await app.inject({ method: 'GET', url: '/api/v1/staging/requests?limit=5', headers: auth });
    expect(ok.json().code).not.toBe('DBB_VALIDATION'); // the database is absent here: anything but a validation error
  });

  it('refuses NUL (U+0000) in a JSON string or name, a query value or a path parameter, and appends nothing', async () => {
    const nul = [
      await post('/stage_data?method=local_copy&username=alice', { local_path_on_storage: 'a\u0000b', relative_path: 'x' }),
      await post('/api/v1/events/StagingRequested', { key: 'k\u0000', body: {} }),
      await post('/filestatus', '{"files":["/x"],"a\\u0000":1}'),
      await app.inject({ method: 'GET', url: '/api/v1/staging/requests?username=al%00ice', headers: auth }),
      await app.inject({ method: 'GET', url: '/api/v1/staging/requests/x%00y', headers: auth }),
    ];
    for (const r of nul) {
      expect(r.statusCode, r.body).toBe(400);
      expect(r.json()).toMatchObject({ code: 'DBB_VALIDATION', detail: 'text must not contain NUL (U+0000)' });
    }
    expect(appended.splice(0)).toEqual([]);
    expect(requested.splice(0)).toEqual([]);
    // the six characters \u0000 written out (an escaped backslash) are text like any other
    const literal = await post('/stage_data?method=local_copy&username=alice', { local_path_on_storage: 'a\\u0000b', relative_path: 'x' });
    expect(literal.json().code).not.toBe('DBB_VALIDATION');
    requested.splice(0);
  });
});

describe('/cleanbuf', () => {
  it.each([
    ['no body', undefined, {}],
    ['null', 'null', { 'content-type': 'application/json' }],
    ['an array', '[]', { 'content-type': 'application/json' }],
    ['a string', '"flush"', { 'content-type': 'application/json' }],
    ['a number', '1', { 'content-type': 'application/json' }],
    ['text/plain', 'flush', { 'content-type': 'text/plain' }],
    ['an octet-stream', Buffer.from('{}'), { 'content-type': 'application/octet-stream' }],
  ])('refuses %s with 400/415 and flushes nothing', async (_what, payload, headers) => {
    for (const url of ['/cleanbuf', '/api/v1/gw/datastores/default/cleanbuf']) {
      const res = await app.inject({ method: 'POST', url, headers: { ...auth, ...headers }, payload });
      expect([400, 415], `${url} ${res.body}`).toContain(res.statusCode);
      expect(res.headers['content-type']).toContain('application/problem+json');
    }
    expect(requested).toEqual([]);
  });

  it('takes a JSON object with or without msg (then waits for the processor)', async () => {
    requested.splice(0);
    for (const body of [{}, { msg: 'done' }, { msg: { any: 'thing' } }]) {
      const res = await post('/cleanbuf', body);
      expect(res.statusCode).toBe(504);
    }
    expect(requested.splice(0).map((r) => r.name)).toEqual(['BufferFlushRequested', 'BufferFlushRequested', 'BufferFlushRequested']);
  });
});

describe('body limits', () => {
  const big = (bytes: number) => JSON.stringify({ msg: 'x'.repeat(bytes) });

  it.each(['/cleanbuf', '/filestatus', '/staging', '/stage_data?method=local_copy&username=alice', '/api/v1/events/SampleRecorded', '/api/v1/console/test-files', '/train'])(
    'a control route refuses a body over 1 MiB with 413 problem+json: %s', async (url) => {
      const res = await post(url, big(CONTROL_BODY_LIMIT));
      expect(res.statusCode).toBe(413);
      expect(res.headers['content-type']).toContain('application/problem+json');
      expect(res.json().code).toBe('DBB_BODY_TOO_LARGE');
      const octets = await post(url, Buffer.alloc(CONTROL_BODY_LIMIT + 1), { 'content-type': 'application/octet-stream' });
      expect([413, 415]).toContain(octets.statusCode);
      expect(requested).toEqual([]);
    });

  it('the GW chunk upload route takes up to GW_MAX_CHUNK_BYTES, and no more', async () => {
    const samples = Buffer.alloc(2 * 1024 * 1024); // 2 MiB of float64 zeros
    const res = await post('/streamdata?t0=0&dt=0.001', samples, { 'content-type': 'application/octet-stream' });
    expect(res.statusCode, res.body).not.toBe(413);
    const json = JSON.stringify({ h: Array.from({ length: 200_000 }, () => 0.125), t: [0, 0.001] });
    expect(json.length).toBeGreaterThan(CONTROL_BODY_LIMIT);
    expect((await post('/streamdata', json)).statusCode).not.toBe(413);
    const over = await post('/streamdata?t0=0&dt=0.001', Buffer.alloc(4 * 1024 * 1024 + 8), { 'content-type': 'application/octet-stream' });
    expect(over.statusCode).toBe(413);
    requested.splice(0);
  });

  it('keeps a chunk file whose event was appended (reply timeout) and removes one whose append failed', async () => {
    const incoming = join(dir, 'gw', 'default', 'incoming');
    const files = () => (existsSync(incoming) ? readdirSync(incoming) : []);
    const before = files();
    expect((await post('/streamdata?t0=1&dt=0.001', Buffer.alloc(64), { 'content-type': 'application/octet-stream' })).statusCode).toBe(504);
    const kept = files().filter((f) => !before.includes(f));
    expect(kept).toHaveLength(1);
    expect((requested.at(-1)?.body as { file?: string }).file).toBe(kept[0]);
    const failed = await post(`/streamdata?t0=${APPEND_FAILS}&dt=0.001`, Buffer.alloc(64), { 'content-type': 'application/octet-stream' });
    expect(failed.statusCode).toBeGreaterThanOrEqual(500);
    expect(files().filter((f) => !before.includes(f))).toEqual(kept);
    requested.splice(0);
  });
});

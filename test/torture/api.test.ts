// Fault suite, the gateway under attack: generated requests per route from the gateway's own OpenAPI
// (fast-check; schema-shaped and broken inputs, every auth state) must never get a 5xx of our own
// making, and every 4xx must be problem+json; an auth matrix over every mutating route (no, wrong,
// malformed and weaker-role tokens → 401/403; seed groups open only when configured); and the
// gateway's whole debug log of the run must not hold a token, a password or the Jupyter token.
// Issue 14: type confusion on every operation's JSON body (a string for a list, a number for a
// string, null or an array for an object) is refused 4xx, never 2xx or 5xx; bodies over 1 MiB are
// 413 except on the GW chunk uploads; tokens bound to a user act only for that user on every
// staging route, unbound ones for any user.
import { randomBytes } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../gateway/app.ts';
import { CONTROL_BODY_LIMIT } from '../../gateway/app.ts';
import { createAuth, hashToken } from '../../gateway/plugins/auth.ts';
import type { App } from '../../gateway/types.ts';
import { consumerLag, withAdmin } from '../../platform/inspect.ts';
import { REDACT_PATHS } from '../../platform/log.ts';
import { createProjections } from '../../projections/index.ts';
import { eventually, startTestStack, type TestStack } from '../support/stack.ts';
import { figure, FULL, printFigures, scaled, startConsumersRetrying, withSecretPassword } from './support.ts';

const CASES = Number(process.env.TORTURE_CASES ?? scaled(30, 1000)); // per operation
const SEED = Number(process.env.TORTURE_SEED ?? Math.floor(Math.random() * 2 ** 31)); // printed: TORTURE_SEED=<n> replays the cases
const TEST_FUZZ = 'API fuzz (OpenAPI-generated)';
const TEST_AUTH = 'auth matrix';
const TEST_CONFUSION = 'type confusion (OpenAPI-generated)';
const TEST_USERS = 'tokens bound to a user';
/** Tokens bound to user alice, one per role (DBB_TOKENS name:role:hash:user=alice). */
const BOUND = { reader: `alice-r-${randomBytes(8).toString('hex')}`, producer: `alice-p-${randomBytes(8).toString('hex')}`, operator: `alice-o-${randomBytes(8).toString('hex')}` };
const SECRETS = {
  TAPE_CALLBACK_PASSWORD: `tape-cb-${randomBytes(8).toString('hex')}`,
  STAGING_JUPYTER_TOKEN: `jupyter-${randomBytes(8).toString('hex')}`,
};
/** Streams (SSE) never end: fuzzed only up to the auth check. */
const STREAMS = new Set(['/api/v1/staging/events', '/api/v1/events/stream']);
/** TAP paths are proxied to DaCHS: its answers (any status, its own bodies) pass through unchanged. */
const PROXIED = (path: string) => /(^|\/)tap(\/|$)/.test(path);
/** IVOA standards (SCS, DataLink, TAP) answer errors as VOTable documents, not problem+json, by design. */
const VOTABLE = (type: string) => /votable|text\/xml|application\/xml/.test(type);
/** IVOA read services that also take POST (DataLink, SODA): form parameters, reads, VO-standard errors
 *  (a VOTable, or SODA's text/plain `UsageError: …`). */
const VO_POST = (path: string) => ['/datalink', '/links', '/soda'].includes(path);
const voError = (path: string, r: { status: number; type: string; body: string }) =>
  r.status >= 400 && r.status < 500 && (VOTABLE(r.type) || (path === '/soda' && /text\/plain/.test(r.type) && /^\w+(Error|Fault|NoOverlap)?: /.test(r.body)));
/** 5xx that report an upstream that is not there in this stack (no processors, Scout, DaCHS), not a fault of ours. */
const UPSTREAM_CODES = new Set(['DBB_REPLY_TIMEOUT']);
/**
 * Findings of this suite that are reported to their owners and not fixed yet: counted and printed as
 * figures, not failed on (TORTURE_STRICT=1 fails on them too). Each names the report entry.
 */
const STRICT = process.env.TORTURE_STRICT === '1';
// F1 (values Postgres refuses after validation → 500) was fixed by the lead in aa5e3b7: such 500s fail again.
const KNOWN: { id: string; what: string; matches: (o: { op: string; status: number; body: string; c: Case; err: string }) => boolean }[] = [
  { id: 'F2', what: 'router errors (param > maxParamLength → 414, bad URL → 400) bypass the error handler: plain JSON, not problem+json', matches: (o) => /FST_ERR_MAX_PARAM_LENGTH|FST_ERR_BAD_URL/.test(o.body) },
  { id: 'F3', what: 'GET /api/v1/ops/dlq/last with a .dlq topic that does not exist → 500 (console WIP)', matches: (o) => o.op === 'GET /api/v1/ops/dlq/last' && o.status === 500 },
];
const knownOf = (o: { op: string; status: number; body: string; c: Case; err: string }) => KNOWN.find((k) => k.matches(o));

let stack: TestStack;
let app: App;
let logFile: string;
let spec: any;
/** The gateway under test with the bound tokens added (same log). */
let usersApp: App;

beforeAll(async () => {
  // a password in DATABASE_URL (the local server trusts it), so the log check covers it too
  process.env.DATABASE_URL = await withSecretPassword(process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres', `torture-db-${randomBytes(6).toString('hex')}`);
  stack = await startTestStack({ env: { ...SECRETS, DBB_REPLY_TIMEOUT_MS: '300', STAGING_REPLY_TIMEOUT_MS: '300' } });
  await startConsumersRetrying(stack, (deps) => createProjections(deps));
  // the gateway under test logs at debug into a file: the whole run's log is searched for secrets
  logFile = join(tmpdir(), `dbb-torture-gateway-${stack.id}.log`);
  const log = pino({ name: 'torture-gateway', level: 'debug', redact: { paths: REDACT_PATHS, censor: '[redacted]' } }, pino.destination({ dest: logFile, sync: true }));
  app = await buildApp({ config: { ...stack.config, logLevel: 'debug' }, env: stack.env, db: stack.db, appender: stack.appender, replies: stack.replies, auth: createAuth(stack.config), log });
  spec = app.swagger();
  const tokens = [...stack.config.tokens, ...Object.entries(BOUND).map(([role, t]) => `alice-${role}:${role}:${hashToken(t)}:user=alice`)];
  usersApp = await buildApp({ config: { ...stack.config, tokens, logLevel: 'debug' }, env: stack.env, db: stack.db, appender: stack.appender, replies: stack.replies, auth: createAuth({ ...stack.config, tokens }), log });
}, 300_000);

afterAll(async () => {
  await usersApp?.close();
  await app?.close();
  await stack?.stop();
  if (logFile) rmSync(logFile, { force: true });
  printFigures('torture: api');
}, 120_000);

interface Op { method: string; path: string; params: any[]; body?: { type: string; schema: any }[] }

function operations(): Op[] {
  const ops: Op[] = [];
  for (const [path, methods] of Object.entries<any>(spec.paths)) {
    for (const [method, op] of Object.entries<any>(methods)) {
      const body = op.requestBody ? Object.entries<any>(op.requestBody.content).map(([type, c]) => ({ type, schema: c.schema })) : undefined;
      ops.push({ method: method.toUpperCase(), path, params: op.parameters ?? [], body });
    }
  }
  return ops;
}

// ------------------------------------------------------------- JSON schema → fast-check arbitrary

const nasty = fc.constantFrom('', ' ', '../../etc/passwd', '/etc/shadow', '..', '%2e%2e%2f', '\u0000', 'a\nb', '${jndi:x}', "' OR 1=1 --", '<script>', 'NaN', 'Infinity', '-1', '1e309', '☃', 'x'.repeat(5000));

function arb(s: any, depth = 0, strict = false): fc.Arbitrary<unknown> {
  if (!s || depth > 5) return strict ? fc.constant({}) : fc.jsonValue({ maxDepth: 2 });
  const alts = s.anyOf ?? s.oneOf;
  if (alts) return fc.oneof(...alts.map((x: any) => arb(x, depth + 1, strict)));
  const bad = (a: fc.Arbitrary<unknown>) => (strict ? a : fc.oneof(a, nasty));
  if (s.const !== undefined) return fc.constant(s.const);
  if (s.enum) return fc.constantFrom(...s.enum);
  switch (s.type) {
    case 'string': {
      if (s.pattern) {
        try { return bad(fc.stringMatching(new RegExp(s.pattern)).map((x) => x.slice(0, s.maxLength ?? 200))); } catch { /* fall through */ }
      }
      if (s.format === 'date-time') return bad(fc.date({ noInvalidDate: true, min: new Date(0), max: new Date(4e12) }).map((d) => d.toISOString()));
      return bad(fc.string({ minLength: Math.max(s.minLength ?? 0, strict ? 1 : 0), maxLength: Math.min(s.maxLength ?? 40, 60) }).filter((x) => !strict || /^[\w.-]+$/.test(x)));
    }
    case 'integer': { const i = fc.integer({ min: Math.max(s.minimum ?? -1e9, -Number.MAX_SAFE_INTEGER), max: Math.min(s.maximum ?? 1e9, Number.MAX_SAFE_INTEGER) }); return strict ? i : fc.oneof(i, fc.constantFrom(-1, 0, 2 ** 53, 1.5)); }
    case 'number': { const d = fc.double({ min: s.minimum ?? -1e12, max: s.maximum ?? 1e12, noNaN: true, noDefaultInfinity: true }); return strict ? d : fc.oneof(d, fc.constantFrom(0, -0, 1e308)); }
    case 'boolean': return fc.boolean();
    case 'null': return fc.constant(null);
    case 'array': return fc.array(arb(s.items, depth + 1, strict), { minLength: s.minItems ?? 0, maxLength: Math.max(s.minItems ?? 0, Math.min(s.maxItems ?? 4, 4)) });
    case 'object': {
      const props = Object.fromEntries(Object.entries<any>(s.properties ?? {}).map(([k, v]) => [k, arb(v, depth + 1, strict)]));
      return fc.record(props, { requiredKeys: (s.required ?? []).filter((k: string) => k in props) });
    }
    default: return strict ? fc.constant('x') : fc.jsonValue({ maxDepth: 2 });
  }
}

/** A value shaped by the schema most of the time, anything at all otherwise. */
const fuzzed = (s: any) => fc.oneof({ weight: 3, arbitrary: arb(s) }, { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }) }, { weight: 1, arbitrary: nasty });

interface Case { method: string; url: string; headers: Record<string, string>; payload?: string | Buffer }

/** Requests for one operation; `strict` = only schema-shaped values (to find one that passes validation). */
function caseArb(op: Op, strict = false): fc.Arbitrary<Case> {
  const pathParams = op.params.filter((p) => p.in === 'path');
  const queryParams = op.params.filter((p) => p.in === 'query');
  const value = (schema: any) => (strict ? arb(schema, 0, true) : fuzzed(schema));
  const auth = strict ? fc.constant('operator') : fc.constantFrom('operator', 'operator', 'operator', 'producer', 'reader', 'none', 'wrong', 'malformed');
  const path = fc.record(Object.fromEntries(pathParams.map((p) => [p.name, value(p.schema)])));
  const required: string[] = strict ? queryParams.filter((p) => p.required).map((p) => p.name) : [];
  const query = fc.record<Record<string, unknown>>(Object.fromEntries(queryParams.map((p) => [p.name, value(p.schema)])), { requiredKeys: required as never[] });
  const extraQuery = strict ? fc.constant(undefined) : fc.option(fc.dictionary(fc.string({ minLength: 1, maxLength: 8 }), fc.string({ maxLength: 20 }), { maxKeys: 2 }), { nil: undefined });
  const jsonBody = op.body?.find((b) => b.type === 'application/json');
  const body: fc.Arbitrary<{ type?: string; payload?: string | Buffer }> = strict
    ? (jsonBody ? arb(jsonBody.schema, 0, true).map((v) => ({ type: 'application/json', payload: JSON.stringify(v ?? {}) })) : fc.constant({}))
    : fc.oneof(
    { weight: 4, arbitrary: jsonBody ? fuzzed(jsonBody.schema).map((v) => ({ type: 'application/json', payload: JSON.stringify(v ?? null) })) : fc.constant({}) },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((v) => ({ type: 'application/json', payload: JSON.stringify(v) })) },
    { weight: 1, arbitrary: fc.string({ maxLength: 200 }).map((s) => ({ type: 'application/json', payload: s })) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 256 }).map((b) => ({ type: 'application/octet-stream', payload: Buffer.from(b) })) },
    { weight: 1, arbitrary: fc.string({ maxLength: 100 }).map((s) => ({ type: fc.sample(fc.constantFrom('text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/xml', 'application/json; charset=latin1'), 1)[0], payload: s })) },
    { weight: 1, arbitrary: fc.constant({}) },
  );
  return fc.record({ auth, path, query, extraQuery, body }).map(({ auth: a, path: pv, query: qv, extraQuery: eq, body: b }) => {
    let url = op.path;
    for (const p of pathParams) {
      const raw = (pv as Record<string, unknown>)[p.name];
      const v = typeof raw === 'string' ? raw : JSON.stringify(raw) ?? '';
      url = url.replace(`{${p.name}}`, p.name === '*' ? v.split('/').map(encodeURIComponent).join('/') : encodeURIComponent(v));
    }
    const qs = new URLSearchParams();
    for (const [k, v] of Object.entries({ ...(qv as object), ...(eq ?? {}) })) qs.append(k, typeof v === 'string' ? v : JSON.stringify(v) ?? '');
    const headers: Record<string, string> = {};
    if (a === 'wrong') headers.authorization = `Bearer wrong-${randomBytes(4).toString('hex')}`;
    else if (a === 'malformed') headers.authorization = fc.sample(fc.constantFrom('Bearer', 'Basic dXNlcjpwYXNz', 'bearer  ', `Token ${stack.tokens.operator}`, 'Bearer a b'), 1)[0];
    else if (a !== 'none') headers.authorization = `Bearer ${stack.tokens[a as 'reader']}`;
    const withBody = op.method !== 'GET' && op.method !== 'HEAD';
    if (withBody && b.type) headers['content-type'] = b.type;
    return { method: op.method, url: qs.size ? `${url}?${qs}` : url, headers, payload: withBody ? b.payload : undefined };
  });
}

interface Outcome { op: string; c: Case; status: number; type: string; body: string; err: string }

async function send(c: Case): Promise<{ status: number; type: string; body: string }> {
  const res = await app.inject({ method: c.method as 'GET', url: c.url, headers: c.headers, payload: c.payload });
  return { status: res.statusCode, type: String(res.headers['content-type'] ?? ''), body: res.body };
}

function problemOk(r: { status: number; type: string; body: string }): boolean {
  if (!/application\/problem\+json/.test(r.type)) return false;
  try {
    const p = JSON.parse(r.body);
    return typeof p.type === 'string' && typeof p.title === 'string' && p.status === r.status && typeof p.code === 'string';
  } catch { return false; }
}

const code = (r: { body: string }) => { try { return JSON.parse(r.body).code as string; } catch { return undefined; } };

describe('gateway under attack', () => {
  it(`${CASES} generated requests per OpenAPI operation: no 5xx of our own, every 4xx is problem+json`, async () => {
    const ops = operations();
    const statuses = new Map<string, number>();
    const serverErrors: Outcome[] = [];
    const notProblem: Outcome[] = [];
    const knownHits = new Map<string, number>();
    const fiveXX: Outcome[] = [];
    const fourXX: Outcome[] = [];
    let total = 0;
    let upstream = 0;
    let infra = 0;
    for (const [n, op] of ops.entries()) {
      const cases = fc.sample(caseArb(op), { numRuns: CASES, seed: SEED + n });
      let i = 0;
      await Promise.all(Array.from({ length: 8 }, async () => {
        while (i < cases.length) {
          const c = cases[i++];
          if (STREAMS.has(op.path) && c.headers.authorization && /^Bearer \S+$/.test(c.headers.authorization) && !c.headers.authorization.includes('wrong-')) continue;
          const r = await send(c);
          total++;
          const cls = `${Math.floor(r.status / 100)}xx`;
          statuses.set(cls, (statuses.get(cls) ?? 0) + 1);
          const o: Outcome = { op: `${op.method} ${op.path}`, c, ...r, err: '' };
          if (r.status >= 500) fiveXX.push(o);
          else if (r.status >= 400 && !PROXIED(op.path) && !voError(op.path, r) && !problemOk(r)) fourXX.push(o);
        }
      }));
    }
    // classified after the run, with the gateway log's error for each 5xx (request id → "err" line)
    const logText = readFileSync(logFile, 'utf8').split('\n');
    const errOf = (o: Outcome) => { try { const id = JSON.parse(o.body).requestId; return id ? (logText.find((l) => l.includes(id) && l.includes('"err"')) ?? '').slice(0, 900) : ''; } catch { return ''; } };
    for (const o of fiveXX) o.err = errOf(o);
    const count = (id: string) => knownHits.set(id, (knownHits.get(id) ?? 0) + 1);
    for (const o of fiveXX) {
      const path = o.op.split(' ')[1];
      const known = knownOf(o);
      if ((o.status === 504 && UPSTREAM_CODES.has(code(o) ?? '')) || ((PROXIED(path) || VOTABLE(o.type)) && code(o) !== 'DBB_INTERNAL')
        || ((o.status === 502 || o.status === 503) && problemOk(o) && code(o) !== 'DBB_INTERNAL')) upstream++;
      // the shared Postgres out of connections (53300) or restarting (57P0x): infrastructure, counted apart (see F10)
      else if (o.status === 500 && /"code":"(53300|57P01|57P03)"/.test(o.err)) infra++;
      else if (known && !STRICT) count(known.id);
      else serverErrors.push(o);
    }
    for (const o of fourXX) {
      const known = knownOf(o);
      if (known && !STRICT) count(known.id);
      else notProblem.push(o);
    }
    const show = (xs: Outcome[]) => xs.filter((o, i) => xs.findIndex((x) => x.op === o.op) >= i - 2).slice(0, 12).map((o) => `${o.op} → ${o.status} ${o.type}\n  ${o.c.method} ${o.c.url.slice(0, 300)} ${JSON.stringify(o.c.headers)} ${String(o.c.payload ?? '').slice(0, 300)}\n  ${o.body.slice(0, 400)}\n  ${o.err}`).join('\n');
    if (serverErrors.length) console.log(`5xx:\n${show(serverErrors)}`);
    if (notProblem.length) console.log(`4xx not problem+json:\n${show(notProblem)}`);
    const byOp = (xs: Outcome[]) => [...new Set(xs.map((o) => o.op))].join('; ');
    figure(TEST_FUZZ, 'operations x cases (seed)', `${ops.length} x ${CASES} (${total} sent, TORTURE_SEED=${SEED})`, FULL ? '>= 1000 per route' : 'a few dozen per route');
    figure(TEST_FUZZ, 'responses by class', [...statuses].sort().map(([k, v]) => `${k} ${v}`).join(', '));
    figure(TEST_FUZZ, '5xx of our own (500 / unexplained)', `${serverErrors.length}${serverErrors.length ? ` (${byOp(serverErrors)})` : ''}`, '0');
    figure(TEST_FUZZ, '5xx reporting an absent upstream (reply timeout, DaCHS, Scout)', upstream, 'any');
    figure(TEST_FUZZ, '500 while the shared Postgres had no connection to give (53300; F10)', infra, 'any');
    figure(TEST_FUZZ, '4xx not problem+json with type/title/status/code', `${notProblem.length}${notProblem.length ? ` (${byOp(notProblem)})` : ''}`, '0');
    for (const k of KNOWN) figure(TEST_FUZZ, `known finding ${k.id} (reported): ${k.what}`, knownHits.get(k.id) ?? 0, '0 once fixed');
    expect(serverErrors.map((o) => `${o.op} ${o.status}`)).toEqual([]);
    expect(notProblem.map((o) => `${o.op} ${o.status}`)).toEqual([]);
  }, FULL ? 3_600_000 : 300_000);

  it('refuses every mutating route without a token, with a wrong or malformed one, and with a weaker role', async () => {
    const mutating = operations().filter((o) => o.method !== 'GET');
    // routes fastify knows but the OpenAPI hides must be covered too
    const hidden = routesFromTree(app.printRoutes({ commonPrefix: false })).filter((r) => r.methods.some((m) => !['GET', 'HEAD'].includes(m)))
      .filter((r) => !mutating.some((o) => toFastify(o.path).replace(/\//g, '') === r.path.replace(/\//g, '')));
    // queries sent as POST (tape /filestatus; TAP forms and job deletes through the DaCHS proxy): reader is enough
    const readByPost = (op: Op) => op.path === '/filestatus' || /(^|\/)tap(\/|$)/.test(op.path) || VO_POST(op.path);
    const rows: { op: string; none: number; wrong: number; malformed: number; reader: number; needs: string }[] = [];
    const failures: string[] = [];
    let bodyBeforeAuth = 0;
    for (const op of mutating) {
      const name = `${op.method} ${op.path}`;
      // a request that passes validation (found with the operator token), so the guard is what answers
      let valid: Case | null = null;
      for (const probe of fc.sample(caseArb(op, true), 200)) {
        const r = await send(probe);
        // refused before the guard: validation, parsing, routing (a domain 400/404 comes from the handler, after the guard)
        const refusedInput = [405, 413, 414, 415].includes(r.status) || (r.status === 400 && ['DBB_VALIDATION', 'DBB_MALFORMED_JSON', 'DBB_BAD_URL', undefined].includes(code(r)))
          || (r.status === 404 && code(r) === 'DBB_NOT_FOUND');
        if (!refusedInput) { valid = probe; break; }
      }
      const base = valid ?? { method: op.method, url: op.path.replace(/\{[^}]+\}/g, 'x'), headers: { 'content-type': 'application/json' }, payload: '{}' };
      const as = async (authorization?: string) => {
        const h = { ...base.headers };
        delete h.authorization;
        if (authorization) h.authorization = authorization;
        return send({ ...base, headers: h });
      };
      const none = await as();
      const wrong = await as(`Bearer not-a-token-${randomBytes(6).toString('hex')}`);
      const malformed = await as(`Basic ${Buffer.from(`x:${stack.tokens.operator}`).toString('base64')}`);
      const roles = { reader: await as(`Bearer ${stack.tokens.reader}`), producer: await as(`Bearer ${stack.tokens.producer}`) };
      const needs = roles.reader.status === 403 && code(roles.reader) === 'DBB_AUTH_FORBIDDEN' ? (roles.producer.status === 403 && code(roles.producer) === 'DBB_AUTH_FORBIDDEN' ? 'operator' : 'producer') : 'reader';
      rows.push({ op: name, none: none.status, wrong: wrong.status, malformed: malformed.status, reader: roles.reader.status, needs });
      if (!valid) { bodyBeforeAuth++; continue; }
      if (!(none.status === 401 && code(none) === 'DBB_AUTH_REQUIRED' && problemOk(none))) failures.push(`${name}: no token → ${none.status} ${code(none)}`);
      if (!(wrong.status === 401 && code(wrong) === 'DBB_AUTH_INVALID')) failures.push(`${name}: wrong token → ${wrong.status} ${code(wrong)}`);
      if (malformed.status !== 401) failures.push(`${name}: Basic header → ${malformed.status} ${code(malformed)}`);
      if (!readByPost(op) && needs === 'reader') failures.push(`${name}: a reader token is let through (${roles.reader.status})`);
    }
    // validation runs before the guard on most routes: an unauthenticated caller with a bad body gets 400, not 401
    let validatedFirst = 0;
    for (const op of mutating.filter((o) => o.body)) {
      const r = await send({ method: op.method, url: op.path.replace(/\{[^}]+\}/g, 'x'), headers: { 'content-type': 'application/json' }, payload: '{"unexpected": [1, 2, 3]}' });
      if (r.status === 400) validatedFirst++;
    }
    console.log(rows.map((r) => `${r.op.padEnd(48)} none ${r.none} wrong ${r.wrong} basic ${r.malformed} reader ${r.reader} needs ${r.needs}`).join('\n'));
    figure(TEST_AUTH, 'mutating operations (OpenAPI) / hidden mutating routes', `${mutating.length} / ${hidden.length}`, `any / 0`);
    figure(TEST_AUTH, 'refused as required (401 none, 401 wrong, 401 Basic, 403 weaker role)', `${rows.length - bodyBeforeAuth - new Set(failures.map((f) => f.split(':')[0])).size} of ${rows.length - bodyBeforeAuth}`, 'all');
    figure(TEST_AUTH, 'operations with no valid request found (guard not reached)', bodyBeforeAuth);
    figure(TEST_AUTH, 'body routes answering 400 (validation) before 401 without a token', `${validatedFirst} of ${mutating.filter((o) => o.body).length}`, 'finding: auth after validation');
    if (failures.length) console.log(failures.join('\n'));
    expect(hidden.map((h) => h.path)).toEqual([]);
    expect(failures).toEqual([]);
  }, 300_000);

  it('opens seed route groups without a token only when configured, and still refuses a wrong token there', async () => {
    const groups = ['gw-seed', 'staging-seed', 'tape-seed', 'ivoa-seed'];
    const open = await buildApp({ config: { ...stack.config, anonymousRoutes: groups }, env: stack.env, db: stack.db, appender: stack.appender, replies: stack.replies, auth: createAuth({ ...stack.config, anonymousRoutes: groups }), log: pino({ level: 'silent' }) });
    try {
      const probes = [
        { method: 'GET', url: '/stats', group: 'gw-seed' }, { method: 'GET', url: '/get_joblist', group: 'tape-seed' },
        { method: 'GET', url: '/logs', group: 'staging-seed' }, { method: 'GET', url: '/api/v1/ivoa/stats', group: 'ivoa-seed' },
      ];
      let opened = 0;
      let closedByDefault = 0;
      let wrongRefused = 0;
      for (const p of probes) {
        const anon = await open.inject({ method: p.method as 'GET', url: p.url });
        const dflt = await app.inject({ method: p.method as 'GET', url: p.url });
        const wrong = await open.inject({ method: p.method as 'GET', url: p.url, headers: { authorization: 'Bearer wrong' } });
        if (anon.statusCode < 400) opened++;
        if (dflt.statusCode === 401) closedByDefault++;
        if (wrong.statusCode === 401) wrongRefused++;
      }
      const v1 = await open.inject({ method: 'GET', url: '/api/v1/gw/datastores' });
      figure(TEST_AUTH, 'seed groups: open when configured / closed by default / wrong token refused', `${opened} / ${closedByDefault} / ${wrongRefused} of ${probes.length}`, `${probes.length} / ${probes.length} / ${probes.length}`);
      figure(TEST_AUTH, '/api/v1 route with every seed group open, no token', v1.statusCode, '401');
      expect({ opened, closedByDefault, wrongRefused }).toEqual({ opened: probes.length, closedByDefault: probes.length, wrongRefused: probes.length });
      expect(v1.statusCode).toBe(401);
    } finally {
      await open.close();
    }
  });

  it('refuses type confusion in the JSON body of every operation with 4xx problem+json: 0 × 2xx, 0 × 5xx', async () => {
    const ops = operations().filter((o) => o.method !== 'GET' && !PROXIED(o.path));
    const rows: { op: string; sent: number; refused: number }[] = [];
    const accepted: string[] = [];
    const serverErrors: string[] = [];
    const notProblem: string[] = [];
    let withoutJsonBody = 0;
    for (const op of ops) {
      const json = op.body?.find((b) => b.type === 'application/json')?.schema;
      const base = fc.sample(caseArb(op, true), { numRuns: 1, seed: SEED })[0]!;
      const baseBody = base.payload ? JSON.parse(String(base.payload)) : {};
      const bodies = json ? confusions(json, baseBody) : [{ what: 'a list where nothing is expected', body: ['/a/b.fits'] }];
      if (!json) withoutJsonBody++;
      let refused = 0;
      for (const { what, body } of bodies) {
        const payload = body === undefined ? undefined : JSON.stringify(body);
        const r = await send({ ...base, headers: { ...base.headers, authorization: `Bearer ${stack.tokens.operator}`, ...(payload === undefined ? {} : { 'content-type': 'application/json' }) }, payload });
        const label = `${op.method} ${op.path} with ${what}: ${r.status} ${r.body.slice(0, 200)}`;
        if (r.status >= 500 && !(r.status === 504 && !json)) serverErrors.push(label);
        else if (json && r.status < 400) accepted.push(label);
        else if (r.status >= 400 && !problemOk(r) && !voError(op.path, r)) notProblem.push(label);
        else refused++;
      }
      rows.push({ op: `${op.method} ${op.path}`, sent: bodies.length, refused });
    }
    console.log(rows.map((r) => `${r.op.padEnd(52)} confused bodies ${r.sent}, refused ${r.refused}`).join('\n'));
    for (const xs of [accepted, serverErrors, notProblem]) if (xs.length) console.log(xs.slice(0, 20).join('\n'));
    const sent = rows.reduce((n, r) => n + r.sent, 0);
    figure(TEST_CONFUSION, 'operations (JSON body / other) x confused bodies', `${ops.length - withoutJsonBody} / ${withoutJsonBody} x ${sent}`, 'every non-GET operation');
    figure(TEST_CONFUSION, 'malformed bodies answered 2xx', accepted.length, '0');
    figure(TEST_CONFUSION, 'answered 5xx', serverErrors.length, '0');
    figure(TEST_CONFUSION, '4xx not problem+json', notProblem.length, '0');
    expect(accepted).toEqual([]);
    expect(serverErrors).toEqual([]);
    expect(notProblem).toEqual([]);
  }, 300_000);

  it('limits every control route to 1 MiB (413 problem+json); only the GW chunk uploads take more', async () => {
    const ops = operations().filter((o) => o.method !== 'GET' && !PROXIED(o.path));
    const chunkRoute = (op: Op) => /\/streamdata$/.test(op.path);
    const wrong: string[] = [];
    for (const op of ops) {
      const base = fc.sample(caseArb(op, true), { numRuns: 1, seed: SEED })[0]!;
      const over = JSON.stringify({ pad: 'x'.repeat(CONTROL_BODY_LIMIT) });
      const r = await send({ ...base, headers: { ...base.headers, authorization: `Bearer ${stack.tokens.operator}`, 'content-type': 'application/json' }, payload: over });
      if (chunkRoute(op) ? r.status === 413 : !(r.status === 413 && problemOk(r) && code(r) === 'DBB_BODY_TOO_LARGE')) wrong.push(`${op.method} ${op.path}: ${r.status} ${r.body.slice(0, 120)}`);
    }
    // a 2 MiB chunk passes the limit of the chunk routes (and fails later or is stored; never 413)
    const chunk = await send({ method: 'POST', url: '/streamdata?t0=0&dt=0.001', headers: { authorization: `Bearer ${stack.tokens.producer}`, 'content-type': 'application/octet-stream' }, payload: Buffer.alloc(2 * 1024 * 1024) });
    if (chunk.status === 413) wrong.push(`POST /streamdata 2 MiB octet-stream: 413`);
    // /cleanbuf: a JSON object or nothing is flushed (a 504 would mean a flush was requested)
    for (const [what, payload, type] of [['no body', undefined, undefined], ['null', 'null', 'application/json'], ['an array', '[{"msg":"x"}]', 'application/json'],
      ['a string', '"x"', 'application/json'], ['over 1 MiB', JSON.stringify({ msg: 'x'.repeat(CONTROL_BODY_LIMIT) }), 'application/json']] as const) {
      const r = await send({ method: 'POST', url: '/cleanbuf', headers: { authorization: `Bearer ${stack.tokens.operator}`, ...(type ? { 'content-type': type } : {}) }, payload });
      if (![400, 413].includes(r.status) || !problemOk(r)) wrong.push(`POST /cleanbuf with ${what}: ${r.status}`);
    }
    figure(TEST_CONFUSION, 'body limits: routes answering other than 413 over 1 MiB (chunk routes: 413 under their limit); /cleanbuf flushes on a non-object', wrong.length, '0');
    if (wrong.length) console.log(wrong.join('\n'));
    expect(wrong).toEqual([]);
  }, 300_000);

  it('lets a token bound to a user stage into and see only that user on every staging route; an unbound token acts for any user', async () => {
    const as = (token: string) => ({ authorization: `Bearer ${token}` });
    const json = { 'content-type': 'application/json' };
    const bound = { reader: as(BOUND.reader), producer: as(BOUND.producer), operator: as(BOUND.operator) };
    const unbound = { reader: as(stack.tokens.reader), producer: as(stack.tokens.producer), operator: as(stack.tokens.operator) };
    const call = (method: string, url: string, headers: Record<string, string>, payload?: unknown) =>
      usersApp.inject({ method: method as 'GET', url, headers: payload === undefined ? headers : { ...headers, ...json }, payload: payload === undefined ? undefined : JSON.stringify(payload) });
    const stage = (user: string, headers: Record<string, string>) => call('POST', `/stage_data?method=local_copy&username=${user}`, headers, { local_path_on_storage: 'torture/users.dat', relative_path: `users-${randomBytes(3).toString('hex')}.dat` });
    type R = { statusCode: number; body: string; headers?: Record<string, unknown> };
    const forbidden = (r: R) => r.statusCode === 403 && /DBB_AUTH_FORBIDDEN_USER/.test(r.body);
    const rows: { route: string; bound_own: number; bound_other: number; unbound_other: number }[] = [];
    const failures: string[] = [];
    const row = (route: string, own: R, other: R, anyUser: R) => {
      rows.push({ route, bound_own: own.statusCode, bound_other: other.statusCode, unbound_other: anyUser.statusCode });
      if (forbidden(own) || own.statusCode >= 500 && own.statusCode !== 504) failures.push(`${route}: bound token on its own user → ${own.statusCode} ${own.body.slice(0, 160)}`);
      if (!forbidden(other) || !problemOk({ status: other.statusCode, type: String(other.headers?.['content-type'] ?? 'application/problem+json'), body: other.body })) failures.push(`${route}: bound token on another user → ${other.statusCode} ${other.body.slice(0, 160)}`);
      if (forbidden(anyUser)) failures.push(`${route}: unbound token refused for another user`);
    };

    // POST /stage_data (no processor here: the requests time out and stay QUEUED in the projection)
    const aliceStage = await stage('alice', bound.producer);
    const bobByAlice = await stage('bob', bound.producer);
    const bobStage = await stage('bob', unbound.producer);
    row('POST /stage_data', aliceStage, bobByAlice, bobStage);
    const idOf = (r: R) => { try { return JSON.parse(r.body).correlationId as string; } catch { return undefined; } };
    const aliceId = idOf(aliceStage);
    const bobId = idOf(bobStage);
    expect(aliceId && bobId, `${aliceStage.body} ${bobStage.body}`).toBeTruthy();
    await eventually(async () => {
      const r = await call('GET', '/api/v1/staging/requests?limit=10000', unbound.reader);
      expect(r.json().requests.map((x: { id: string }) => x.id)).toEqual(expect.arrayContaining([aliceId, bobId]));
    }, { timeoutMs: 60_000 }).catch(async (err) => {
      console.log(`a request not projected in 60 s: ${aliceStage.statusCode} ${aliceStage.body.slice(0, 200)} / ${bobStage.statusCode} ${bobStage.body.slice(0, 200)}`);
      console.log(`consumer lag: ${JSON.stringify(await consumerLag({ config: stack.config, db: stack.db }).catch((e) => String(e)))}`);
      console.log(`groups: ${JSON.stringify(await withAdmin(stack.config, async (admin) => {
        const ids = (await admin.listGroups()).groups.map((g) => g.groupId).filter((g) => g.startsWith(stack.config.namespace));
        return (await admin.describeGroups(ids)).groups.map((g) => ({ group: g.groupId, state: g.state, members: g.members.length }));
      }).catch((e) => String(e)))}`);
      throw err;
    });

    row('GET /api/v1/staging/requests/{id}', await call('GET', `/api/v1/staging/requests/${aliceId}`, bound.reader),
      await call('GET', `/api/v1/staging/requests/${bobId}`, bound.reader), await call('GET', `/api/v1/staging/requests/${bobId}`, unbound.reader));
    row('GET /api/v1/staging/requests?username=', await call('GET', '/api/v1/staging/requests?username=alice', bound.reader),
      await call('GET', '/api/v1/staging/requests?username=bob', bound.reader), await call('GET', '/api/v1/staging/requests?username=bob', unbound.reader));
    row('POST /api/v1/staging/requests/{id}/rerun', await call('POST', `/api/v1/staging/requests/${aliceId}/rerun`, bound.operator, {}),
      await call('POST', `/api/v1/staging/requests/${bobId}/rerun`, bound.operator, {}), await call('POST', `/api/v1/staging/requests/${bobId}/rerun`, unbound.operator, {}));
    row('GET /api/v1/staging/requests/{id}/download', await call('GET', `/api/v1/staging/requests/${aliceId}/download`, bound.reader),
      await call('GET', `/api/v1/staging/requests/${bobId}/download`, bound.reader), await call('GET', `/api/v1/staging/requests/${bobId}/download`, unbound.reader));
    row('POST /api/v1/events/{name} (raw append)', { statusCode: 0, body: '' }, await call('POST', '/api/v1/events/StagingRequested', bound.producer, { key: 'k', body: {} }),
      await call('POST', '/api/v1/events/StagingRequested', unbound.producer, { key: 'k', body: {} }));

    // listing and the seed log without a username: a bound token gets its own user's only
    const listed = (await call('GET', '/api/v1/staging/requests?limit=10000', bound.reader)).json().requests as { id: string; username: string }[];
    if (listed.some((x) => x.username !== 'alice') || !listed.some((x) => x.id === aliceId)) failures.push(`GET /api/v1/staging/requests: bound token listed ${[...new Set(listed.map((x) => x.username))].join(', ')}`);
    const logOf = async (h: Record<string, string>) => (await call('GET', '/logs?limit=100000', h)).body;
    await eventually(async () => expect(await logOf(unbound.reader)).toContain(bobId!), { timeoutMs: 30_000 });
    const aliceLog = await logOf(bound.reader);
    if (aliceLog.includes(bobId!) || !aliceLog.includes(aliceId!)) failures.push('GET /logs: a bound token sees another user\'s lines or misses its own');
    const config = await call('GET', '/api/v1/staging/config', bound.reader);
    if (config.statusCode !== 200) failures.push(`GET /api/v1/staging/config: bound reader → ${config.statusCode}`);

    // the live stream: a bound token's SSE carries its own user's events only
    await usersApp.listen({ port: 0, host: '127.0.0.1' });
    const port = (usersApp.server.address() as { port: number }).port;
    const ctl = new AbortController();
    const res = await fetch(`http://127.0.0.1:${port}/api/v1/staging/events`, { headers: bound.reader, signal: ctl.signal });
    let text = '';
    const reader = res.body!.getReader();
    const reading = (async () => { try { for (;;) { const { value, done } = await reader.read(); if (done) break; text += Buffer.from(value).toString('utf8'); } } catch { /* aborted */ } })();
    await eventually(() => expect(text).toContain(': connected'));
    const bobLive = idOf(await stage('bob', unbound.producer));
    const aliceLive = idOf(await stage('alice', unbound.producer));
    await eventually(() => expect(text).toContain(aliceLive!), { timeoutMs: 30_000 });
    ctl.abort();
    await reading;
    if (text.includes(bobLive!)) failures.push('GET /api/v1/staging/events: a bound token received another user\'s event');
    rows.push({ route: 'GET /api/v1/staging/events (SSE)', bound_own: text.includes(aliceLive!) ? 200 : 0, bound_other: text.includes(bobLive!) ? 200 : 0, unbound_other: -1 });

    console.log(rows.map((r) => `${r.route.padEnd(48)} bound/own ${r.bound_own} bound/other ${r.bound_other} unbound/other ${r.unbound_other}`).join('\n'));
    if (failures.length) console.log(failures.join('\n'));
    figure(TEST_USERS, 'staging routes checked (seed + /api/v1/staging + raw append + SSE)', rows.length + 2, 'every staging route');
    figure(TEST_USERS, 'bound token on another user: 403 problem+json / unbound: allowed', `${rows.filter((r) => r.bound_other === 403).length} / ${rows.filter((r) => r.unbound_other !== 403).length} of ${rows.length}`);
    figure(TEST_USERS, 'failures', failures.length, '0');
    expect(failures).toEqual([]);
  }, 300_000);

  it('writes no token, password or Jupyter token into the gateway log of the whole run (debug level)', async () => {
    // requests that carry every secret where a careless log would pick it up
    const carriers: Case[] = [
      { method: 'POST', url: `/stage_data?method=jupyter_copy&username=alice&jupyter_token=${SECRETS.STAGING_JUPYTER_TOKEN}`, headers: { authorization: `Bearer ${stack.tokens.producer}`, 'content-type': 'application/json' }, payload: JSON.stringify({ local_path_on_storage: 'a/b', relative_path: 'c' }) },
      { method: 'POST', url: '/train', headers: { authorization: `Bearer ${stack.tokens.producer}`, 'content-type': 'application/json' }, payload: JSON.stringify({ user: 'alice', token: stack.tokens.operator }) },
      { method: 'POST', url: '/train', headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ user: 'alice', token: stack.tokens.operator }) },
      { method: 'POST', url: '/staging', headers: { authorization: `Bearer ${stack.tokens.producer}`, 'content-type': 'application/json' }, payload: JSON.stringify({ job_id: 77, files: ['x'], notify_url: `http://u:${SECRETS.TAPE_CALLBACK_PASSWORD}@127.0.0.1:9/cb` }) },
      { method: 'GET', url: '/api/v1/whoami', headers: { authorization: `Bearer ${stack.tokens.reader}`, cookie: `session=${stack.tokens.operator}` } },
      { method: 'POST', url: '/api/v1/events/SampleRecorded', headers: { authorization: `Bearer ${stack.tokens.producer}`, 'content-type': 'application/json' }, payload: '{"key":' },
    ];
    for (const c of carriers) await send(c);
    const text = readFileSync(logFile, 'utf8');
    const lines = text.split('\n').filter(Boolean).length;
    const dbPassword = new URL(stack.config.databaseUrl).password;
    const secrets: Record<string, string> = {
      'reader token': stack.tokens.reader, 'producer token': stack.tokens.producer, 'operator token': stack.tokens.operator,
      'bound reader token': BOUND.reader, 'bound producer token': BOUND.producer, 'bound operator token': BOUND.operator,
      TAPE_CALLBACK_PASSWORD: SECRETS.TAPE_CALLBACK_PASSWORD, STAGING_JUPYTER_TOKEN: SECRETS.STAGING_JUPYTER_TOKEN,
      ...(dbPassword ? { 'DATABASE_URL password': decodeURIComponent(dbPassword) } : {}),
    };
    const all = text.split('\n');
    const found = Object.entries(secrets).filter(([, v]) => text.includes(v)).map(([k]) => k);
    // F4 (reported): fastify's "incoming request" line logs req.url with its query string, so the seed's ?jupyter_token= lands in the log
    const knownLeak = (k: string) => !STRICT && k === 'STAGING_JUPYTER_TOKEN' && all.filter((l) => l.includes(secrets[k])).every((l) => /"url":"\/stage_data\?[^"]*jupyter_token=/.test(l));
    for (const k of found) console.log(`${k} in the gateway log: ${all.find((l) => l.includes(secrets[k]))!.replaceAll(secrets[k], '<SECRET>').slice(0, 600)}`);
    figure(TEST_AUTH, 'gateway debug log lines searched / secrets found', `${lines} / ${found.length ? found.join(', ') : 0}`, '> 0 / 0');
    figure(TEST_AUTH, 'known finding F4 (reported): ?jupyter_token= of /stage_data logged in the request URL', found.includes('STAGING_JUPYTER_TOKEN') ? 'leaks' : 'clean', 'clean once fixed');
    expect(lines).toBeGreaterThan(100);
    expect(found.filter((k) => !knownLeak(k))).toEqual([]);
  });
});

/**
 * Malformed JSON bodies for a body schema: the whole body as null, an array, a string and a number,
 * and per property (one level down too) the confusions its type does not allow: a string for a
 * list, a number for a string, a string for a number, null or an array for an object.
 */
function confusions(schema: any, valid: any): { what: string; body: unknown }[] {
  const out: { what: string; body: unknown }[] = [
    { what: 'null for the body object', body: null }, { what: 'an array for the body object', body: [valid] },
    { what: 'a string for the body object', body: '/a/b.fits' }, { what: 'a number for the body object', body: 1 },
  ];
  const variants = (s: any): { what: string; value: unknown }[] => {
    if (!s || s.anyOf || s.oneOf || !s.type) return []; // unions and `unknown` allow more than one type
    switch (s.type) {
      case 'array': return [{ what: 'a string for a list', value: '/a/b.fits' }, { what: 'an object for a list', value: { 0: 'x' } }];
      case 'string': return [{ what: 'a number for a string', value: 42 }, { what: 'a list for a string', value: ['x'] }];
      case 'integer': case 'number': return [{ what: 'a numeric string for a number', value: '1' }, { what: 'a boolean for a number', value: true }];
      case 'boolean': return [{ what: 'a string for a boolean', value: 'true' }];
      case 'object': return [{ what: 'null for an object', value: null }, { what: 'an array for an object', value: [{}] }, { what: 'a string for an object', value: 'x' }];
      default: return [];
    }
  };
  const objects = (schema.anyOf ?? schema.oneOf ?? [schema]).filter((s: any) => s.type === 'object');
  const props = objects.length === 1 ? objects[0].properties ?? {} : {}; // a union body (seed /stage_data): whole-body cases only
  const base = valid && typeof valid === 'object' && !Array.isArray(valid) ? valid : {};
  for (const [k, s] of Object.entries<any>(props)) {
    for (const v of variants(s)) out.push({ what: `${v.what} (${k})`, body: { ...base, [k]: v.value } });
    if (s.type === 'object' && s.properties) {
      const inner = base[k] && typeof base[k] === 'object' ? base[k] : {};
      for (const [ik, is] of Object.entries<any>(s.properties)) for (const v of variants(is)) out.push({ what: `${v.what} (${k}.${ik})`, body: { ...base, [k]: { ...inner, [ik]: v.value } } });
    }
  }
  return out;
}

/** fastify's printRoutes tree → full paths with their methods. */
function routesFromTree(tree: string): { path: string; methods: string[] }[] {
  const out: { path: string; methods: string[] }[] = [];
  const stack: string[] = [];
  for (const line of tree.split('\n')) {
    const m = /^([│ ├└─]*)(\S.*?) \(([A-Z, ]+)\)$/.exec(line) ?? /^([│ ├└─]*)(\S.*)$/.exec(line);
    if (!m) continue;
    const depth = Math.floor(m[1].length / 4);
    stack.length = depth;
    const path = (stack[depth - 1] ?? '') + m[2];
    stack[depth] = path;
    if (m[3]) out.push({ path: path.replace(/^\/\//, '/'), methods: m[3].split(',').map((s) => s.trim()) });
  }
  return out;
}

const toFastify = (openapiPath: string) => openapiPath.replace(/\{\*\}/g, '*').replace(/\{([^}]+)\}/g, ':$1');

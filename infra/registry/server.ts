// The built-in schema registry: the Confluent Schema Registry REST API (the subset Confluent
// clients use: subjects, versions, schemas by id, config, compatibility) for Avro, stored in
// Postgres. Served under /apis/ccompat/v7 (Apicurio's path, so URLs stay the same) and at /.
// Run: node --import tsx infra/registry/server.ts  (REGISTRY_DATABASE_URL, REGISTRY_HOST, REGISTRY_PORT;
// REGISTRY_BASIC_AUTH_FILE: a file holding user:password, then every request needs that basic auth)
import { timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { pathToFileURL } from 'node:url';
import { Store, RegistryError } from './store.ts';
import { isLevel, type Level } from './compat.ts';

const PREFIX = '/apis/ccompat/v7';
const MAX_BODY = 16 * 1024 * 1024;
const CT = 'application/vnd.schemaregistry.v1+json';

type Handler = (m: RegExpExecArray, q: URLSearchParams, body: any) => Promise<unknown>;

/** True when the request's Authorization header is basic auth with `credentials` (user:password). */
function authorized(req: IncomingMessage, credentials: string): boolean {
  const want = Buffer.from(`Basic ${Buffer.from(credentials).toString('base64')}`);
  const got = Buffer.from(req.headers.authorization ?? '');
  return got.length === want.length && timingSafeEqual(got, want);
}

export function createRegistryServer(store: Store, opts: { basicAuth?: string } = {}) {
  const routes: [string, RegExp, Handler][] = [];
  const on = (method: string, path: string, h: Handler) =>
    routes.push([method, new RegExp(`^${path.replace(/:(\w+)/g, '(?<$1>[^/]+)')}$`), h]);
  const subj = (m: RegExpExecArray) => decodeURIComponent(m.groups!.subject);
  const ver = (m: RegExpExecArray) => decodeURIComponent(m.groups!.version);
  const typeOf = (b: any) => String(b?.schemaType ?? 'AVRO').toUpperCase();
  const withType = <T extends { schemaType: string }>(r: T) => {
    const { schemaType, ...rest } = r;
    return schemaType === 'AVRO' ? rest : { ...rest, schemaType };
  };
  const level = (b: any): Level => {
    if (!isLevel(b?.compatibility)) throw new RegistryError(422, 42203, `Invalid compatibility level: ${b?.compatibility}`);
    return b.compatibility.toUpperCase();
  };
  const bool = (q: URLSearchParams, k: string) => q.get(k) === 'true';

  on('GET', '/', async () => ({}));
  on('GET', '/health', async () => ({ status: 'UP' }));
  on('GET', '/schemas/types', async () => ['AVRO']);
  on('GET', '/mode', async () => ({ mode: 'READWRITE' }));
  on('GET', '/subjects', async (_m, q) => store.subjects({ deleted: bool(q, 'deleted'), prefix: q.get('subjectPrefix') ?? '' }));
  on('GET', '/subjects/:subject/versions', async (m, q) => store.versions(subj(m), bool(q, 'deleted')));
  on('POST', '/subjects/:subject/versions', async (m, _q, b) => store.register(subj(m), b?.schema, typeOf(b)));
  on('POST', '/subjects/:subject', async (m, _q, b) => withType(await store.lookup(subj(m), b?.schema, typeOf(b))));
  on('DELETE', '/subjects/:subject', async (m, q) => store.deleteSubject(subj(m), bool(q, 'permanent')));
  on('GET', '/subjects/:subject/versions/:version', async (m) => withType(await store.version(subj(m), ver(m))));
  on('GET', '/subjects/:subject/versions/:version/schema', async (m) => JSON.parse((await store.version(subj(m), ver(m))).schema));
  on('DELETE', '/subjects/:subject/versions/:version', async (m, q) => store.deleteVersion(subj(m), ver(m), bool(q, 'permanent')));
  on('GET', '/schemas/ids/:id', async (m) => withType(await store.schemaById(Number(m.groups!.id))));
  on('GET', '/schemas/ids/:id/schema', async (m) => JSON.parse((await store.schemaById(Number(m.groups!.id))).schema));
  on('GET', '/schemas/ids/:id/versions', async (m) => store.idUsage(Number(m.groups!.id)));
  on('GET', '/schemas/ids/:id/subjects', async (m) => [...new Set((await store.idUsage(Number(m.groups!.id))).map((x) => x.subject))]);
  on('GET', '/config', async () => ({ compatibilityLevel: await store.getConfig(null) }));
  on('PUT', '/config', async (_m, _q, b) => { const l = level(b); await store.setConfig(null, l); return { compatibility: l }; });
  on('GET', '/config/:subject', async (m, q) => ({ compatibilityLevel: await store.getConfig(subj(m), bool(q, 'defaultToGlobal')) }));
  on('PUT', '/config/:subject', async (m, _q, b) => { const l = level(b); await store.setConfig(subj(m), l); return { compatibility: l }; });
  on('DELETE', '/config/:subject', async (m) => ({ compatibilityLevel: await store.deleteConfig(subj(m)) }));
  const compat: Handler = async (m, q, b) => {
    const problems = await store.testCompatibility(subj(m), m.groups?.version ? ver(m) : null, b?.schema, typeOf(b));
    return bool(q, 'verbose') ? { is_compatible: problems.length === 0, messages: problems } : { is_compatible: problems.length === 0 };
  };
  on('POST', '/compatibility/subjects/:subject/versions/:version', compat);
  on('POST', '/compatibility/subjects/:subject/versions', compat);

  const send = (res: ServerResponse, status: number, body: unknown) => {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': CT, 'content-length': Buffer.byteLength(text) });
    res.end(text);
  };

  return createServer(async (req: IncomingMessage, res: ServerResponse) => {
    try {
      if (opts.basicAuth && !authorized(req, opts.basicAuth)) {
        res.setHeader('www-authenticate', 'Basic realm="dbb registry"');
        throw new RegistryError(401, 40101, 'Unauthorized');
      }
      const url = new URL(req.url ?? '/', 'http://registry');
      let path = url.pathname.startsWith(PREFIX) ? url.pathname.slice(PREFIX.length) : url.pathname;
      if (path.length > 1 && path.endsWith('/')) path = path.slice(0, -1);
      if (path === '') path = '/';
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const c of req) {
        size += (c as Buffer).length;
        if (size > MAX_BODY) throw new RegistryError(413, 413, 'request body too large');
        chunks.push(c as Buffer);
      }
      let body: unknown;
      if (size > 0) {
        try {
          body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        } catch {
          throw new RegistryError(400, 400, 'request body is not JSON');
        }
      }
      let methodMatched = false;
      for (const [method, re, h] of routes) {
        const m = re.exec(path);
        if (!m) continue;
        if (method !== req.method) { methodMatched = true; continue; }
        return send(res, 200, await h(m, url.searchParams, body));
      }
      if (methodMatched) throw new RegistryError(405, 405, `HTTP ${req.method} not allowed on ${path}`);
      throw new RegistryError(404, 404, `HTTP 404 Not Found: ${path}`);
    } catch (err) {
      if (err instanceof RegistryError) return send(res, err.status, { error_code: err.code, message: err.message });
      console.error(new Date().toISOString(), 'registry error', err);
      return send(res, 500, { error_code: 50001, message: `Error in the backend data store: ${(err as Error).message}` });
    }
  });
}

async function main() {
  const databaseUrl = process.env.REGISTRY_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/dbb_registry';
  const host = process.env.REGISTRY_HOST ?? '127.0.0.1';
  const port = Number(process.env.REGISTRY_PORT ?? 8081);
  const store = new Store(databaseUrl);
  await store.init();
  const authFile = process.env.REGISTRY_BASIC_AUTH_FILE;
  const server = createRegistryServer(store, { basicAuth: authFile ? readFileSync(authFile, 'utf8').trim() : undefined });
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, host, resolve));
  console.log(new Date().toISOString(), `dbb registry listening on http://${host}:${port}${PREFIX} (storage ${databaseUrl.replace(/\/\/[^@]*@/, '//')})`);
  const stop = (sig: string) => {
    console.log(new Date().toISOString(), `${sig}: shutting down`);
    server.close();
    server.closeAllConnections();
    store.close().finally(() => process.exit(0));
    setTimeout(() => process.exit(0), 3000).unref();
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((err) => {
    console.error(new Date().toISOString(), 'registry failed to start:', err);
    process.exit(1);
  });
}

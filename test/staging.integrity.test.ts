// Issue 21 item 1 end to end through the gateway on the real stack: notify_url (signed per Standard
// Webhooks, retried with one webhook-id, delivered once, failures recorded, SSRF targets refused), the
// per-user cap (requests beyond STAGING_MAX_ACTIVE_PER_USER wait and start as earlier ones end), and the
// sha256 of local_copy / jupyter_copy (recorded, and a copy that differs refused) with a real Jupyter Server.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { eventually, type TestStack } from './support/stack.ts';
import { createStagingProcessor } from '../processors/staging/index.ts';
import { createStagingProjection } from '../projections/staging/index.ts';
import { getStagingLog } from '../projections/staging/queries.ts';
import { makeSite, startStagingStack, stage, type Site } from './staging/fixture.ts';
import { startJupyter, type JupyterServer } from './staging/jupyter.ts';

const SECRET_KEY = randomBytes(24);
const SECRET = `whsec_${SECRET_KEY.toString('base64')}`;
const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

/** A loopback webhook receiver answering from a script (default 204). */
function receiver() {
  const seen: { headers: IncomingHttpHeaders; body: string; status: number }[] = [];
  let script: number[] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => { const status = script.shift() ?? 204; seen.push({ headers: req.headers, body, status }); res.writeHead(status); res.end(); });
  });
  return {
    seen, server,
    answer: (...statuses: number[]) => { script = statuses; },
    async start() { await new Promise<void>((r) => server.listen(0, '127.0.0.1', r)); return `http://127.0.0.1:${(server.address() as AddressInfo).port}`; },
  };
}

/** The Standard Webhooks check a receiver does, written here from the spec (not the sender's code). */
function verified(h: IncomingHttpHeaders, body: string): boolean {
  const expected = createHmac('sha256', SECRET_KEY).update(`${h['webhook-id']}.${h['webhook-timestamp']}.${body}`).digest();
  return String(h['webhook-signature']).split(' ').some((sig) => {
    const [v, b64] = sig.split(',');
    const got = Buffer.from(b64 ?? '', 'base64');
    return v === 'v1' && got.length === expected.length && timingSafeEqual(got, expected);
  });
}

async function record(stack: TestStack, id: string) {
  const res = await stack.app.inject({ method: 'GET', url: `/api/v1/staging/requests/${id}`, headers: stack.auth('reader') });
  expect(res.statusCode).toBe(200);
  return res.json();
}

describe('completion webhooks and sha256', () => {
  let site: Site;
  let stack: TestStack;
  let jupyter: JupyterServer;
  let corrupting: JupyterServer;
  const hook = receiver();
  let hookUrl: string;

  beforeAll(async () => {
    site = makeSite();
    hookUrl = await hook.start();
    jupyter = await startJupyter(join(site.dir, 'jupyter-root'));
    // a server that stores something else than it was sent, as a faulty disk or proxy would
    corrupting = await startJupyter(join(site.dir, 'jupyter-bad'), jupyter.token, [
      'import base64',
      'def flip(model, path, contents_manager, **kw):',
      "    if model.get('type') == 'file' and model.get('format') == 'base64' and path.endswith('.part'):",
      "        raw = bytearray(base64.b64decode(model['content']))",
      '        raw[0] ^= 0xff',
      "        model['content'] = base64.b64encode(bytes(raw)).decode()",
      'c.FileContentsManager.pre_save_hook = flip',
      'c.ContentsManager.pre_save_hook = flip',
      '',
    ].join('\n'));
    stack = await startStagingStack({
      consumers: (deps) => [createStagingProcessor(deps), createStagingProjection(deps)],
      env: {
        ...site.env, STAGING_NOTIFY_ALLOW: '127.0.0.0/8', STAGING_NOTIFY_SECRET: SECRET, STAGING_NOTIFY_ATTEMPTS: '3', STAGING_NOTIFY_BACKOFF_MS: '20',
        // {username} picks the server: the user named after a server's port reaches it
        STAGING_JUPYTER_URL_TEMPLATE: `http://127.0.0.1:{username}`, STAGING_JUPYTER_TOKEN: jupyter.token,
      },
    });
  });

  afterAll(async () => {
    await stack?.stop();
    await jupyter?.stop();
    await corrupting?.stop();
    hook.server.close();
    site?.cleanup();
  });

  it('POSTs the outcome once to notify_url, signed, with the same webhook-id on a retry, and records DELIVERED', async () => {
    hook.seen.length = 0;
    hook.answer(500, 204);
    const res = await stage(stack, 'local_copy', 'alice', { data: { local_path_on_storage: 'obs/f.dat', relative_path: 'n/f.dat', notify_url: `${hookUrl}/done` } });
    expect(res.statusCode).toBe(200);
    const id = res.json().request_id;
    const rec = await eventually(async () => { const r = await record(stack, id); expect(r.notify_status).toBe('DELIVERED'); return r; });
    expect(hook.seen.map((s) => s.status)).toEqual([500, 204]);
    const [first, second] = hook.seen;
    expect(second.headers['webhook-id']).toBe(first.headers['webhook-id']);
    expect(second.headers['idempotency-key']).toBe(first.headers['webhook-id']);
    for (const s of hook.seen) expect(verified(s.headers, s.body)).toBe(true);
    expect(verified({ ...second.headers, 'webhook-id': 'other' }, second.body)).toBe(false);
    const body = JSON.parse(second.body);
    expect(body).toMatchObject({ request_id: id, status: 'SUCCESS', method: 'local_copy', username: 'alice', sha256: sha256('hello staging\n'), size_bytes: 14, attempt: 1 });
    expect(rec).toMatchObject({ status: 'SUCCESS', notify_url: `${hookUrl}/done`, sha256: sha256('hello staging\n') });
    const log = await getStagingLog(stack.db, 1000);
    expect(log.filter((l) => l.request_id === id && l.event === 'StagingNotificationDelivered')).toHaveLength(1);
  });

  it('notifies a failed request too, and records FAILED when every attempt fails', async () => {
    hook.seen.length = 0;
    hook.answer(503, 503, 503);
    const res = await stage(stack, 'local_copy', 'alice', { local_path_on_storage: 'obs/missing.dat', relative_path: 'n/m.dat', notify_url: `${hookUrl}/done` });
    expect(res.statusCode).toBe(400);
    const id = res.json().request_id;
    await eventually(async () => expect(await record(stack, id)).toMatchObject({ status: 'FAILURE', error_code: 'SOURCE_NOT_FOUND', notify_status: 'FAILED' }));
    expect(hook.seen).toHaveLength(3);
    expect(new Set(hook.seen.map((s) => s.headers['webhook-id'])).size).toBe(1);
    expect(JSON.parse(hook.seen[0].body)).toMatchObject({ request_id: id, status: 'FAILURE', error_code: 'SOURCE_NOT_FOUND', sha256: null });
  });

  it('refuses a notify_url that is not global unicast nor allow-listed with 400 problem+json, appending nothing', async () => {
    for (const url of ['http://10.1.2.3/hook', 'http://169.254.169.254/latest/meta-data', 'http://[::1]:9/hook', 'ftp://example.org/x']) {
      const res = await stage(stack, 'local_copy', 'alice', { local_path_on_storage: 'obs/f.dat', relative_path: 'n/x.dat', notify_url: url });
      expect(res.statusCode, url).toBe(400);
      expect(res.headers['content-type']).toContain('application/problem+json');
      expect(res.json().code).toBe('DBB_STAGING_NOTIFY_FORBIDDEN');
    }
    expect(existsSync(join(site.area('alice'), 'n', 'x.dat'))).toBe(false);
  });

  it('records the sha256 of a local_copy, equal to the file in the user area', async () => {
    const data = randomBytes(3 * 1024 * 1024 + 17);
    writeFileSync(join(site.root, 'obs', 'big.bin'), data);
    const res = await stage(stack, 'local_copy', 'carol', { local_path_on_storage: 'obs/big.bin', relative_path: 'big.bin' });
    expect(res.statusCode).toBe(200);
    const rec = await eventually(async () => { const r = await record(stack, res.json().request_id); expect(r.status).toBe('SUCCESS'); return r; });
    expect(rec.sha256).toBe(sha256(data));
    expect(sha256(readFileSync(join(site.area('carol'), 'big.bin')))).toBe(rec.sha256);
  });

  it('verifies a jupyter_copy by reading it back: a faithful server gives SUCCESS with the sha256, a corrupting one CHECKSUM_MISMATCH', async () => {
    const data = randomBytes(40_000);
    writeFileSync(join(site.root, 'obs', 'nb.bin'), data);
    const port = (s: JupyterServer) => new URL(s.url).port;
    const ok = await stage(stack, 'jupyter_copy', port(jupyter), { local_path_on_storage: 'obs/nb.bin', relative_path: 'data/nb.bin' });
    expect(ok.statusCode).toBe(200);
    const rec = await eventually(async () => { const r = await record(stack, ok.json().request_id); expect(r.status).toBe('SUCCESS'); return r; });
    expect(rec.sha256).toBe(sha256(data));
    expect(sha256(readFileSync(join(jupyter.rootDir, 'data', 'nb.bin')))).toBe(sha256(data));

    const bad = await stage(stack, 'jupyter_copy', port(corrupting), { local_path_on_storage: 'obs/nb.bin', relative_path: 'data/nb.bin' });
    expect(bad.statusCode, bad.body).toBe(500);
    expect(bad.json().code).toBe('DBB_STAGING_CHECKSUM_MISMATCH');
    await eventually(async () => expect(await record(stack, bad.json().request_id)).toMatchObject({ status: 'FAILURE', error_code: 'CHECKSUM_MISMATCH', sha256: null }));
    expect(existsSync(join(corrupting.rootDir, 'data', 'nb.bin'))).toBe(false);
  });
});

describe('per-user cap', () => {
  let site: Site;
  let stack: TestStack;

  beforeAll(async () => {
    site = makeSite();
    // one partition: the processor sees every request of this test in one batch
    stack = await startStagingStack({ consumers: (deps) => [createStagingProjection(deps)], env: { ...site.env, STAGING_MAX_ACTIVE_PER_USER: '2', KAFKA_PARTITIONS: '1' } });
  });

  afterAll(async () => {
    await stack?.stop();
    site?.cleanup();
  });

  it('runs at most STAGING_MAX_ACTIVE_PER_USER requests of a user; the others wait (QUEUED) and start in order as earlier ones end', async () => {
    for (let i = 0; i < 4; i++) writeFileSync(join(site.root, 'obs', `c${i}.dat`), `cap ${i}\n`);
    // requested while no processor runs, so that they are decided together when it starts
    const posts = [0, 1, 2, 3].map((i) => stage(stack, 'local_copy', 'dora', { local_path_on_storage: `obs/c${i}.dat`, relative_path: `c${i}.dat` }));
    posts.push(stage(stack, 'local_copy', 'emil', { local_path_on_storage: 'obs/c0.dat', relative_path: 'c0.dat' }));
    await eventually(async () => {
      const res = await stack.app.inject({ method: 'GET', url: '/api/v1/staging/requests?status=QUEUED', headers: stack.auth('reader') });
      expect(res.json().requests).toHaveLength(5);
    });
    await stack.startConsumers((deps) => [createStagingProcessor(deps)]);
    const answers = await Promise.all(posts);
    for (const a of answers) expect(a.statusCode, a.body).toBe(200);
    const ids = answers.map((a) => a.json().request_id as string);
    for (const id of ids) await eventually(async () => expect(await record(stack, id)).toMatchObject({ status: 'SUCCESS', waiting: false }));
    for (let i = 0; i < 4; i++) expect(readFileSync(join(site.area('dora'), `c${i}.dat`), 'utf8')).toBe(`cap ${i}\n`);

    const log = await getStagingLog(stack.db, 1000);
    const waited = log.filter((l) => l.event === 'StagingWaiting').map((l) => l.request_id);
    const started = log.filter((l) => l.event === 'StagingStarted');
    // two of dora's four waited; emil's (another user) never did
    expect(waited).toHaveLength(2);
    expect(waited.every((id) => ids.slice(0, 4).includes(id))).toBe(true);
    expect(started.map((l) => l.request_id).sort()).toEqual([...waited].sort());
    // each started when one that ran ended: it names an admitted request, never another waiting one
    const admitted = ids.slice(0, 4).filter((id) => !waited.includes(id));
    for (const l of started) expect(admitted.some((a) => l.message.includes(`request ${a} ended`))).toBe(true);
    const waitLines = log.filter((l) => l.event === 'StagingWaiting').map((l) => l.message);
    expect(waitLines.some((m) => m.includes('place 1'))).toBe(true);
    expect(waitLines.some((m) => m.includes('place 2'))).toBe(true);
  });
});

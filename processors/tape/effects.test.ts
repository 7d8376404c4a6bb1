import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startDataFilesSim, type DataFilesSim } from '../../sim/data-files/index.ts';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { deliverCallback, lookupFiles } from './effects.ts';
import { retryAfterMs } from '../../platform/webhook.ts';
import { parseAllowList } from '../../domains/tape/callback-target.ts';

const seen: { headers: IncomingHttpHeaders; body: string }[] = [];
let answers: (number | { status: number; headers: Record<string, string> })[] = [];
let url: string;
const server = createServer((req, res) => {
  let body = '';
  req.on('data', (c) => { body += c; });
  req.on('end', () => { seen.push({ headers: req.headers, body }); const a = answers.shift() ?? 200; if (typeof a === 'number') res.writeHead(a); else res.writeHead(a.status, a.headers); res.end(); });
});
let dataFiles: DataFilesSim;

beforeAll(async () => {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/cb`;
  dataFiles = await startDataFilesSim({ observations: { 42: ['a.fits', 'b.fits'] } });
});
afterAll(async () => { server.close(); await dataFiles.stop(); });

const callback = { user: 'u', password: 'p', attempts: 4, backoffMs: 1, timeoutMs: 2_000, jitter: 0, allow: parseAllowList(['127.0.0.0/8']) };
const body = { job_id: 1, return_code: 0, total_files: 1, ready_files: 1, error_files: 0, comment: 'ok' };
const noSleep = async () => {};

describe('deliverCallback', () => {
  it('retries 5xx with the same Idempotency-Key and basic auth until a 2xx', async () => {
    seen.length = 0;
    answers = [500, 503, 200];
    expect(await deliverCallback(url, 'delivery-1', body, { callback, sleep: noSleep })).toEqual({ ok: true, attempts: 3, httpStatus: 200 });
    expect(seen.map((s) => s.headers['idempotency-key'])).toEqual(['delivery-1', 'delivery-1', 'delivery-1']);
    expect(seen[0].headers.authorization).toBe(`Basic ${Buffer.from('u:p').toString('base64')}`);
    expect(JSON.parse(seen[0].body)).toEqual(body);
  });

  it('gives up after its attempts, and at once on a 4xx other than 408/429', async () => {
    answers = [500, 500, 500, 500];
    expect(await deliverCallback(url, 'd2', body, { callback, sleep: noSleep })).toEqual({ ok: false, attempts: 4, error: 'HTTP 500' });
    answers = [404];
    expect(await deliverCallback(url, 'd3', body, { callback, sleep: noSleep })).toEqual({ ok: false, attempts: 1, error: 'HTTP 404', final: true });
    answers = [429, 200];
    expect(await deliverCallback(url, 'd4', body, { callback, sleep: noSleep })).toMatchObject({ ok: true, attempts: 2 });
  });

  it('retries a receiver that is not listening and reports the error', async () => {
    const r = await deliverCallback('http://127.0.0.1:1/cb', 'd5', body, { callback: { ...callback, attempts: 2 }, sleep: noSleep });
    expect(r).toMatchObject({ ok: false, attempts: 2 });
  });
});

/** Standard Webhooks verification, written from the spec (not with effects.ts): the key is the base64
 *  part of whsec_…, the signed content "<webhook-id>.<webhook-timestamp>.<body>", HMAC-SHA256, base64;
 *  webhook-signature is a space-separated list of "v1,<sig>"; the timestamp within 5 minutes of now. */
function verifyStandardWebhook(secret: string, headers: IncomingHttpHeaders, body: string, nowS: number): boolean {
  const id = headers['webhook-id'];
  const ts = headers['webhook-timestamp'];
  const sigs = headers['webhook-signature'];
  if (typeof id !== 'string' || typeof ts !== 'string' || typeof sigs !== 'string') return false;
  if (!/^\d+$/.test(ts) || Math.abs(nowS - Number(ts)) > 5 * 60) return false;
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  const expected = createHmac('sha256', key).update(`${id}.${ts}.${body}`).digest();
  return sigs.split(' ').some((s) => {
    const [version, b64] = s.split(',');
    if (version !== 'v1' || !b64) return false;
    const got = Buffer.from(b64, 'base64');
    return got.length === expected.length && timingSafeEqual(got, expected);
  });
}

describe('deliverCallback: Standard Webhooks signing', () => {
  const secret = `whsec_${Buffer.from('a 32-byte test key for signing!!').toString('base64')}`;
  const T0 = Date.UTC(2026, 0, 2, 3, 4, 5);

  it('signs every attempt with the same webhook-id and a fresh webhook-timestamp; an independent verifier accepts it', async () => {
    seen.length = 0;
    answers = [503, 200];
    let clock = T0;
    const r = await deliverCallback(url, 'delivery-s1', body, { callback: { ...callback, secret }, sleep: async (ms) => { clock += 60_000 + ms; }, now: () => clock });
    expect(r).toMatchObject({ ok: true, attempts: 2 });
    expect(seen.map((s) => s.headers['webhook-id'])).toEqual(['delivery-s1', 'delivery-s1']);
    expect(seen.map((s) => s.headers['idempotency-key'])).toEqual(['delivery-s1', 'delivery-s1']);
    const [t1, t2] = seen.map((s) => Number(s.headers['webhook-timestamp']));
    expect(t1).toBe(T0 / 1000);
    expect(t2).toBeGreaterThanOrEqual(t1 + 60);
    expect(seen[0].headers['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
    for (const s of seen) expect(verifyStandardWebhook(secret, s.headers, s.body, Number(s.headers['webhook-timestamp']))).toBe(true);
  });

  it('a tampered body, timestamp or id, a wrong secret or a stale timestamp fails verification', async () => {
    seen.length = 0;
    answers = [200];
    await deliverCallback(url, 'delivery-s2', body, { callback: { ...callback, secret }, now: () => T0 });
    const { headers, body: raw } = seen[0];
    const nowS = T0 / 1000;
    expect(verifyStandardWebhook(secret, headers, raw, nowS)).toBe(true);
    expect(verifyStandardWebhook(secret, headers, raw.replace('"return_code":0', '"return_code":1'), nowS)).toBe(false);
    expect(verifyStandardWebhook(secret, { ...headers, 'webhook-timestamp': String(nowS + 1) }, raw, nowS)).toBe(false);
    expect(verifyStandardWebhook(secret, { ...headers, 'webhook-id': 'other' }, raw, nowS)).toBe(false);
    expect(verifyStandardWebhook(`whsec_${Buffer.from('another key').toString('base64')}`, headers, raw, nowS)).toBe(false);
    expect(verifyStandardWebhook(secret, headers, raw, nowS + 600)).toBe(false);
  });

  it('sends no webhook-* headers when no secret is set (basic auth and Idempotency-Key only)', async () => {
    seen.length = 0;
    answers = [200];
    await deliverCallback(url, 'delivery-s3', body, { callback });
    expect(Object.keys(seen[0].headers).filter((h) => h.startsWith('webhook-'))).toEqual([]);
    expect(seen[0].headers['idempotency-key']).toBe('delivery-s3');
  });
});

describe('deliverCallback: Retry-After and 410', () => {
  it('waits a Retry-After in seconds or as an HTTP-date instead of the backoff, capped by maxRetryAfterMs', async () => {
    const T0 = Date.UTC(2026, 0, 2, 3, 4, 5);
    const waits: number[] = [];
    answers = [
      { status: 429, headers: { 'retry-after': '3' } },
      { status: 503, headers: { 'retry-after': new Date(T0 + 2_000).toUTCString() } },
      { status: 500, headers: { 'retry-after': '3600' } },
      200,
    ];
    const r = await deliverCallback(url, 'd-ra', body, { callback: { ...callback, backoffMs: 7, maxRetryAfterMs: 10_000 }, sleep: async (ms) => { waits.push(ms); }, now: () => T0 });
    expect(r).toMatchObject({ ok: true, attempts: 4 });
    expect(waits).toEqual([3_000, 2_000, 10_000]);
  });

  it('uses the computed backoff without (or with an unreadable) Retry-After', async () => {
    const waits: number[] = [];
    answers = [503, { status: 503, headers: { 'retry-after': 'soon' } }, 200];
    await deliverCallback(url, 'd-nora', body, { callback: { ...callback, backoffMs: 7 }, sleep: async (ms) => { waits.push(ms); } });
    expect(waits).toEqual([7, 14]);
  });

  it('stops at once on 410 Gone with reason "gone"', async () => {
    seen.length = 0;
    answers = [503, 410, 200];
    expect(await deliverCallback(url, 'd-gone', body, { callback, sleep: noSleep })).toEqual({ ok: false, attempts: 2, error: 'gone', final: true });
    expect(seen).toHaveLength(2);
    answers = [];
  });

  it('parses Retry-After', () => {
    expect(retryAfterMs('120', 0)).toBe(120_000);
    expect(retryAfterMs('Thu, 01 Jan 1970 00:00:10 GMT', 4_000)).toBe(6_000);
    expect(retryAfterMs('Thu, 01 Jan 1970 00:00:10 GMT', 20_000)).toBe(0);
    expect(retryAfterMs(null, 0)).toBeNull();
    expect(retryAfterMs('-1', 0)).toBeNull();
  });
});

describe('deliverCallback: SSRF guard at delivery', () => {
  it('refuses a loopback target not allow-listed without sending anything', async () => {
    seen.length = 0;
    const r = await deliverCallback(url, 'd-f1', body, { callback: { ...callback, allow: undefined }, sleep: noSleep });
    expect(r).toMatchObject({ ok: false, attempts: 0, error: expect.stringMatching(/^forbidden: .*loopback 127\.0\.0\.0\/8.*TAPE_CALLBACK_ALLOW/) });
    expect(seen).toHaveLength(0);
  });

  it('refuses a host name that now resolves to a private address', async () => {
    const lookup = async () => [{ address: '93.184.216.34', family: 4 }, { address: '10.1.2.3', family: 4 }];
    const r = await deliverCallback('http://receiver.example/cb', 'd-f2', body, { callback, sleep: noSleep, lookup });
    expect(r).toMatchObject({ ok: false, attempts: 0, error: expect.stringMatching(/receiver\.example resolves to 10\.1\.2\.3.*private 10\.0\.0\.0\/8/) });
  });
});

describe('deliverCallback: connects to the checked address', () => {
  it('sends to the address the SSRF check judged, not to a second DNS answer', async () => {
    seen.length = 0;
    answers = [200];
    const port = new URL(url).port;
    let lookups = 0;
    // receiver.test resolves nowhere in real DNS: the POST arriving proves the connection used the checked 127.0.0.1
    const lookup = async () => { lookups++; return [{ address: '127.0.0.1', family: 4 }]; };
    expect(await deliverCallback(`http://receiver.test:${port}/cb`, 'd-pin', body, { callback, lookup })).toMatchObject({ ok: true, attempts: 1 });
    expect(seen).toHaveLength(1);
    expect(seen[0].headers.host).toBe(`receiver.test:${port}`);
    expect(lookups).toBe(1);
  });

  it('does not follow a redirect (it could point past the guard)', async () => {
    seen.length = 0;
    answers = [{ status: 302, headers: { location: 'http://169.254.169.254/latest/meta-data' } }];
    expect(await deliverCallback(url, 'd-redir', body, { callback, sleep: noSleep })).toEqual({ ok: false, attempts: 1, error: 'HTTP 302', final: true });
    expect(seen).toHaveLength(1);
  });

  it('times out a receiver that never answers', async () => {
    const hang = createServer(() => { /* never answers */ });
    await new Promise<void>((r) => hang.listen(0, '127.0.0.1', r));
    try {
      const r = await deliverCallback(`http://127.0.0.1:${(hang.address() as AddressInfo).port}/cb`, 'd-hang', body, { callback: { ...callback, attempts: 1, timeoutMs: 100 } });
      expect(r).toMatchObject({ ok: false, attempts: 1, error: expect.stringMatching(/timed out/) });
    } finally { hang.closeAllConnections(); hang.close(); }
  });
});

describe('lookupFiles', () => {
  it('lists the files of an obs, and fails for an unknown obs or an unreachable service', async () => {
    expect(await lookupFiles({ obs_id: 42 }, { dataFilesUrl: dataFiles.url })).toEqual({ ok: true, files: ['a.fits', 'b.fits'] });
    expect(await lookupFiles({ obs_id: 7 }, { dataFilesUrl: dataFiles.url })).toEqual({ ok: false, error: 'data-files service answered HTTP 404' });
    expect(await lookupFiles({ obs_id: 42 }, { dataFilesUrl: 'http://127.0.0.1:1/x', sleep: noSleep })).toMatchObject({ ok: false, error: expect.stringMatching(/unreachable/) });
  });
});

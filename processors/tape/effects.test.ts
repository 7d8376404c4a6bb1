import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startDataFilesSim, type DataFilesSim } from '../../sim/data-files/index.ts';
import { deliverCallback, lookupFiles } from './effects.ts';

const seen: { headers: IncomingHttpHeaders; body: string }[] = [];
let answers: number[] = [];
let url: string;
const server = createServer((req, res) => {
  let body = '';
  req.on('data', (c) => { body += c; });
  req.on('end', () => { seen.push({ headers: req.headers, body }); res.writeHead(answers.shift() ?? 200); res.end(); });
});
let dataFiles: DataFilesSim;

beforeAll(async () => {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/cb`;
  dataFiles = await startDataFilesSim({ observations: { 42: ['a.fits', 'b.fits'] } });
});
afterAll(async () => { server.close(); await dataFiles.stop(); });

const callback = { user: 'u', password: 'p', attempts: 4, backoffMs: 1, timeoutMs: 2_000, jitter: 0 };
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
    expect(await deliverCallback(url, 'd3', body, { callback, sleep: noSleep })).toEqual({ ok: false, attempts: 1, error: 'HTTP 404' });
    answers = [429, 200];
    expect(await deliverCallback(url, 'd4', body, { callback, sleep: noSleep })).toMatchObject({ ok: true, attempts: 2 });
  });

  it('retries a receiver that is not listening and reports the error', async () => {
    const r = await deliverCallback('http://127.0.0.1:1/cb', 'd5', body, { callback: { ...callback, attempts: 2 }, sleep: noSleep });
    expect(r).toMatchObject({ ok: false, attempts: 2 });
  });
});

describe('lookupFiles', () => {
  it('lists the files of an obs, and fails for an unknown obs or an unreachable service', async () => {
    expect(await lookupFiles({ obs_id: 42 }, { dataFilesUrl: dataFiles.url })).toEqual({ ok: true, files: ['a.fits', 'b.fits'] });
    expect(await lookupFiles({ obs_id: 7 }, { dataFilesUrl: dataFiles.url })).toEqual({ ok: false, error: 'data-files service answered HTTP 404' });
    expect(await lookupFiles({ obs_id: 42 }, { dataFilesUrl: 'http://127.0.0.1:1/x', sleep: noSleep })).toMatchObject({ ok: false, error: expect.stringMatching(/unreachable/) });
  });
});

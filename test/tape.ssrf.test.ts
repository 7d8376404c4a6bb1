// SSRF guard of POST /staging on the real stack, without the tests' loopback allow-list: a notify_url
// in a loopback/private/link-local/unspecified/multicast range is refused with 400 problem+json
// DBB_TAPE_CALLBACK_FORBIDDEN and nothing appended; a global unicast one or an allow-listed range is
// accepted (TEST-NET and 2001:db8::/32 are documentation ranges, which the guard now refuses, so the
// public targets are real global addresses). No processor runs here, so nothing is ever delivered.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { files, startTapeHarness, type TapeHarness } from './tape/harness.ts';

let h: TapeHarness;

beforeAll(async () => {
  // overrides the tests' default allow-list (127.0.0.0/8,::1/128): public space and this one private net pass
  h = await startTapeHarness({ processor: false, ticker: false, env: { TAPE_CALLBACK_ALLOW: '10.20.0.0/16' } });
});
afterAll(async () => { await h?.stop(); });

const post = (jobId: number, notifyUrl: string) => h.stack.app.inject({
  method: 'POST', url: '/staging', headers: h.stack.auth('producer'), payload: { job_id: jobId, files: files(`ssrf${jobId}`, 1), notify_url: notifyUrl },
});

describe('tape callback targets', () => {
  it('refuses loopback, private, link-local, unspecified and multicast notify_urls with 400 problem+json', async () => {
    const refused = [
      'http://127.0.0.1:8080/cb', 'http://localhost/cb', 'http://[::1]/cb', 'http://10.0.0.5/cb', 'http://172.20.1.1/cb', 'http://192.168.0.10/cb',
      'http://169.254.169.254/latest/meta-data', 'http://0.0.0.0/cb', 'http://224.0.0.1/cb', 'http://[fd12::1]/cb', 'http://[fe80::1]/cb', 'http://[::ffff:127.0.0.1]/cb',
    ];
    let jobId = 700;
    for (const u of refused) {
      const res = await post(jobId++, u);
      expect(res.statusCode, u).toBe(400);
      expect(res.headers['content-type']).toContain('application/problem+json');
      expect(res.json(), u).toMatchObject({ code: 'DBB_TAPE_CALLBACK_FORBIDDEN' });
    }
    // nothing was appended: the job ids are still free
    const again = await post(700, 'http://93.184.215.14/cb');
    expect(again.statusCode).toBe(202);
  });

  it('accepts a public-looking target and an allow-listed private range', async () => {
    expect((await post(801, 'http://93.184.215.14/cb')).statusCode).toBe(202);
    expect((await post(802, 'https://[2606:2800:21f:cb07:6820:80da:af6b:8b2c]/cb')).statusCode).toBe(202);
    expect((await post(803, 'http://10.20.3.4:9000/cb')).statusCode).toBe(202);
  });
});

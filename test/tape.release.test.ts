// DELETE /staging/files releases the files a job staged from the library's disk cache through the Scout
// API (release): the library takes them offline (they stay on tape), the projection marks them released.
// The processor decides (a removed or unknown job is 404) and a library that fails gives 502.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { eventually } from './support/stack.ts';
import { files, startTapeHarness, type TapeHarness } from './tape/harness.ts';

let h: TapeHarness;
beforeAll(async () => { h = await startTapeHarness({ library: { failFile: (p) => p.includes('/relbad/') } }); });
afterAll(async () => { await h?.stop(); });

const release = (jobId: number, headers = h.stack.auth('producer')) => h.stack.app.inject({ method: 'DELETE', url: `/staging/files?job_id=${jobId}`, headers });
const get = (url: string) => h.stack.app.inject({ method: 'GET', url, headers: h.stack.auth('reader') });
const filestatus = async (names: string[]) => (await h.stack.app.inject({ method: 'POST', url: '/filestatus', headers: h.stack.auth('reader'), payload: { files: names } })).json().files;

it('releases the staged files of a job from the disk cache; they stay on tape and show as released', async () => {
  const ok = files('rel', 3);
  const [bad] = files('relbad', 1);
  await h.stack.app.inject({ method: 'POST', url: '/staging', headers: h.stack.auth('producer'), payload: { job_id: 801, files: [...ok, bad], notify_url: h.receiver.url } });
  await eventually(async () => expect((await get('/api/v1/tape/jobs/801')).json()).toMatchObject({ completed: true }));
  expect(await filestatus(ok)).toEqual(Object.fromEntries(ok.map((f) => [f, true])));

  const res = await release(801);
  expect(res.statusCode).toBe(200);
  expect(res.json()).toEqual({ job_id: 801, released: 3 }); // the failed file was never on disk
  expect(h.library.stats.released).toBe(3);
  expect(await filestatus(ok)).toEqual(Object.fromEntries(ok.map((f) => [f, false])));
  await eventually(async () => expect((await get('/api/v1/tape/jobs/801')).json()).toMatchObject({ releasedFiles: 3, readyFiles: 3, errorFiles: 1 }));
  const { rows } = await h.stack.db.query('SELECT name FROM projection_tape.files WHERE job_id = 801 AND released_at IS NOT NULL ORDER BY name');
  expect(rows.map((r) => r.name)).toEqual(ok);

  // a second release finds them already offline: nothing more is counted
  expect((await release(801)).json()).toEqual({ job_id: 801, released: 3 });
  expect((await get('/api/v1/tape/jobs/801')).json().releasedFiles).toBe(3);
});

it('answers 404 for a job never accepted or removed, 401 without a token, and 502 when the library fails', async () => {
  const unknown = await release(802);
  expect(unknown.statusCode).toBe(404);
  expect(unknown.headers['content-type']).toContain('application/problem+json');
  expect(unknown.json().code).toBe('DBB_TAPE_JOB_NOT_FOUND');
  expect((await h.stack.app.inject({ method: 'DELETE', url: '/staging/files?job_id=801' })).statusCode).toBe(401);

  await h.stack.app.inject({ method: 'POST', url: '/staging', headers: h.stack.auth('producer'), payload: { job_id: 803, files: files('rel3', 1), notify_url: h.receiver.url } });
  await eventually(async () => expect((await get('/api/v1/tape/jobs/803')).json()).toMatchObject({ completed: true }));
  for (const n of h.nodes) n.setFailing(true);
  try {
    const failed = await release(803);
    expect(failed.statusCode).toBe(502);
    expect(failed.json().code).toBe('DBB_TAPE_SCOUT');
  } finally {
    for (const n of h.nodes) n.setFailing(false);
  }
  expect((await h.stack.app.inject({ method: 'DELETE', url: '/staging?job_id=803', headers: h.stack.auth('producer') })).statusCode).toBe(200);
  expect((await release(803)).statusCode).toBe(404);
});

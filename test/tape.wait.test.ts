// `dbb tape wait JOB_ID` over HTTP against the gateway: it blocks while the job is in flight (files
// held on tape), and returns when the job completes, printing the result; exit 0 for return code 0,
// 2 for another, 1 for a job that never shows up.
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { eventually } from './support/stack.ts';
import { files, startTapeHarness, type TapeHarness } from './tape/harness.ts';

let h: TapeHarness;
let url = '';
beforeAll(async () => {
  h = await startTapeHarness({ library: { holdFile: (p) => p.includes('/waitheld/') } });
  url = await h.stack.app.listen({ host: '127.0.0.1', port: 0 });
});
afterAll(async () => { await h?.stop(); });

function dbbTapeWait(jobId: number, ...args: string[]) {
  const token = h.stack.auth('reader').authorization.replace(/^Bearer /, '');
  const proc = spawn(process.execPath, ['--import', 'tsx', 'cli/dbb.ts', 'tape', 'wait', String(jobId), '--url', url, '--token', token, '--interval', '0.2', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stdout.on('data', (d) => { out += d; });
  proc.stderr.on('data', (d) => { err += d; });
  const exited = new Promise<{ code: number | null; out: string; err: string }>((r) => proc.on('exit', (code) => r({ code, out, err })));
  return { proc, exited, stderr: () => err };
}

const post = (jobId: number, list: string[]) => h.stack.app.inject({ method: 'POST', url: '/staging', headers: h.stack.auth('producer'), payload: { job_id: jobId, files: list, notify_url: h.receiver.url } });

it('blocks while the job stages and returns its result when it completes', async () => {
  const list = [...files('wait', 2), ...files('waitheld', 2)];
  expect((await post(901, list)).statusCode).toBe(202);
  const w = dbbTapeWait(901);
  let exited = false;
  void w.exited.then(() => { exited = true; });
  // the two free files are counted while the held ones keep the job in flight
  await eventually(async () => expect((await h.stack.app.inject({ method: 'GET', url: '/api/v1/tape/jobs/901', headers: h.stack.auth('reader') })).json()).toMatchObject({ readyFiles: 2, completed: false }), { timeoutMs: 60_000 });
  expect(exited).toBe(false);
  h.library.releaseHeld();
  const { code, out } = await w.exited;
  expect(code).toBe(0);
  expect(JSON.parse(out.trim().split('\n').at(-1)!)).toMatchObject({ job_id: 901, return_code: 0, total_files: 4, ready_files: 4, error_files: 0 });
});

it('exits 1 for a job that never shows up', async () => {
  const { code, err } = await dbbTapeWait(999_999, '--unknown-for', '1').exited;
  expect(code).toBe(1);
  expect(err).toContain('HTTP 404');
});

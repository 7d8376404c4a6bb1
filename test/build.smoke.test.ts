// The build is what production runs (docs/deploy.md): `npm run build`, then the compiled CLI answers --help
// fast and `dbb up` from dist/ (no tsx loaded) gets ready and serves a request end to end (gateway → Kafka →
// staging processor → reply). DBB_SMOKE_USE_BUILD=1 uses an existing dist/ instead of building.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { dbbUp, stopDbbUp, type Running } from './support/dbb-up.ts';

const CLI = join(process.cwd(), 'dist', 'cli', 'dbb.js');
const started: Running[] = [];

beforeAll(() => {
  if (process.env.DBB_SMOKE_USE_BUILD === '1' && existsSync(CLI)) return;
  execFileSync('npm', ['run', 'build', '--silent'], { stdio: 'inherit', timeout: 170_000 });
}, 180_000);
afterAll(async () => { for (const r of started) await stopDbbUp(r); });

describe('the compiled build', () => {
  // its speed (≈0.1 s here) is a measurement for docs/benchmarks.md, not an assertion
  it('answers dbb --help from the compiled JavaScript alone', () => {
    const res = spawnSync(process.execPath, [CLI, '--help'], { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } });
    expect(res.status, res.stderr).toBe(0);
    expect(res.stdout).toMatch(/Usage: dbb/);
    expect(res.stdout).toMatch(/run <part>/);
  });

  it('runs dbb up from dist/: ready, and a staging request is served', async () => {
    const r = await dbbUp({ NODE_OPTIONS: '' }, { args: [CLI], started });
    expect(r.output()).not.toMatch(/tsx/);
    const health = await fetch(`${r.url}/healthz`);
    expect(health.status).toBe(200);
    const ready = await fetch(`${r.url}/readyz`);
    const body = await ready.json() as { status: string };
    expect(ready.status, JSON.stringify(body)).toBe(200);
    expect(['ready', 'degraded']).toContain(body.status); // ivoa may lack DaCHS/pgSphere on this machine

    const storage = join(r.stateDir, 'staging', 'storage');
    mkdirSync(join(storage, 'obs'), { recursive: true });
    writeFileSync(join(storage, 'obs', 'built.fits'), 'SIMPLE  =                    T\n');
    const staged = await fetch(`${r.url}/stage_data?method=local_copy&username=smoke`, {
      method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${r.token}` },
      body: JSON.stringify({ data: { local_path_on_storage: 'obs/built.fits', relative_path: 'built.fits' } }),
    });
    expect(staged.status, await staged.clone().text()).toBeLessThan(300);
    expect(readFileSync(join(r.stateDir, 'staging', 'users', 'smoke', 'built.fits'), 'utf8')).toContain('SIMPLE');
  });
});

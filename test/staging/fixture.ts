// Test helper: a staging site in a temp dir (storage root, user areas, an "outside" directory) and
// the STAGING_* env that points a stack at it, plus a POST /stage_data shortcut.
import { mkdtempSync, mkdirSync, writeFileSync, rmSync, readdirSync, lstatSync, readFileSync, readlinkSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestStack, type TestStack } from '../support/stack.ts';

export interface Site { dir: string; root: string; users: string; outside: string; env: Record<string, string>; area(user: string): string; cleanup(): void }

export function makeSite(extraEnv: Record<string, string> = {}): Site {
  const dir = mkdtempSync(join(tmpdir(), 'staging-site-'));
  const root = join(dir, 'storage');
  const users = join(dir, 'users');
  const outside = join(dir, 'outside');
  for (const d of [join(root, 'obs'), users, outside]) mkdirSync(d, { recursive: true });
  writeFileSync(join(root, 'obs', 'f.dat'), 'hello staging\n');
  writeFileSync(join(outside, 'secret.txt'), 'secret\n');
  return {
    dir, root, users, outside,
    env: { STAGING_STORAGE_ROOT: root, STAGING_USER_AREA_TEMPLATE: join(users, '{username}', 'staging'), ...extraEnv },
    area: (user) => join(users, user, 'staging'),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

export async function stage(stack: TestStack, method: string, username: string, body: Record<string, unknown>, headers: Record<string, string> = {}) {
  const qs = new URLSearchParams({ method, username }).toString();
  return stack.app.inject({ method: 'POST', url: `/stage_data?${qs}`, headers: { ...stack.auth('producer'), ...headers }, payload: body });
}

/** Every entry below `dir` with its type and content hash: equal snapshots = nothing touched. */
export function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      const st = lstatSync(p);
      if (st.isSymbolicLink()) out[p] = `link:${readlinkSync(p)}`;
      else if (st.isDirectory()) { out[p] = 'dir'; walk(p); }
      else out[p] = `file:${st.mode.toString(8)}:${createHash('sha256').update(readFileSync(p)).digest('hex')}`;
    }
  };
  walk(dir);
  return out;
}

/** startTestStack, retried once: under parallel load the stack start has been seen to fail with
 *  "This server does not host this topic-partition" (reported in docs/requests/staging.md), and on
 *  the shared dev machine with Postgres' "too many clients already". */
export async function startStagingStack(opts: Parameters<typeof startTestStack>[0]): Promise<TestStack> {
  try {
    return await startTestStack(opts);
  } catch (err) {
    if (!/topic-partition|leader|too many clients/i.test((err as Error).message)) throw err;
    console.warn(`startTestStack failed (${(err as Error).message}); retrying once`);
    await new Promise((r) => setTimeout(r, 2000));
    return startTestStack(opts);
  }
}

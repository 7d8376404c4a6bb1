// The processor runs in a child process and is SIGKILLed during a large copy: no partial file ever
// appears under the final name, and after a restart the request ends SUCCESS or FAILURE (reconciled
// from the destination), never stuck; the seed client's synchronous POST gets its answer too, and a
// rerun finishes an interrupted copy.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { eventually, type TestStack } from './support/stack.ts';
import { spawnConsumers, type ConsumerProcess } from './support/consumer-process.ts';
import { createStagingProjection } from '../projections/staging/index.ts';
import { makeSite, startStagingStack, stage, type Site } from './staging/fixture.ts';
import { makeSparseFile } from './staging/sparse.ts';

const SIZE = 2 * 1024 ** 3;
let site: Site;
let stack: TestStack;
const children: ConsumerProcess[] = [];

beforeAll(async () => {
  site = makeSite({ STAGING_REPLY_TIMEOUT_MS: '170000' });
  mkdirSync(join(site.root, 'big'));
  makeSparseFile(join(site.root, 'big', 'huge.bin'), SIZE);
  stack = await startStagingStack({ consumers: (deps) => [createStagingProjection(deps)], env: site.env });
});

afterAll(async () => {
  for (const c of children) if (c.child.exitCode === null) { c.child.kill('SIGTERM'); await c.exited; }
  await stack?.stop();
  site?.cleanup();
});

const processor = () => {
  const c = spawnConsumers(stack.env, 'processors/staging/index.ts', 'createStagingProcessor');
  children.push(c);
  return c;
};

describe('staging processor killed mid-copy', () => {
  it('leaves no partial file under the final name and finishes or reports the request after restart', async () => {
    const first = processor();
    await first.ready;
    const answer = stage(stack, 'local_copy', 'frank', { local_path_on_storage: join(site.root, 'big', 'huge.bin'), relative_path: 'big/huge.bin' });
    const dir = join(site.area('frank'), 'big');
    const final = join(dir, 'huge.bin');

    // kill as soon as the temp copy has started growing (or, if the copy won the race, once it is done)
    await eventually(() => {
      const tmp = existsSync(dir) ? readdirSync(dir).find((n) => n.endsWith('.part')) : undefined;
      if (!(tmp && statSync(join(dir, tmp)).size > 0) && !existsSync(final)) throw new Error('copy not started');
    }, { timeoutMs: 90_000, intervalMs: 5 });
    first.child.kill('SIGKILL');
    await first.exited;
    if (existsSync(final)) expect(statSync(final).size).toBe(SIZE);

    const second = processor();
    await second.ready;
    const res = await answer;
    const id = await eventually(async () => {
      const list = await stack.app.inject({ method: 'GET', url: '/api/v1/staging/requests?username=frank', headers: stack.auth('reader') });
      const [rec] = list.json().requests;
      expect(['SUCCESS', 'FAILURE']).toContain(rec.status);
      return rec;
    }, { timeoutMs: 120_000 });
    if (id.status === 'SUCCESS') {
      expect(res.statusCode).toBe(200);
      expect(statSync(final).size).toBe(SIZE);
    } else {
      expect(id.error_code).toBe('INTERRUPTED');
      expect(res.statusCode).toBe(500);
      expect(res.json().code).toBe('DBB_STAGING_INTERRUPTED');
      expect(existsSync(final)).toBe(false);
      expect(readdirSync(dir).filter((n) => n.endsWith('.part'))).toEqual([]);
      // an operator finishes it: the rerun copies again as attempt 2
      const rerun = await stack.app.inject({ method: 'POST', url: `/api/v1/staging/requests/${id.id}/rerun`, headers: stack.auth('operator'), payload: { reason: 'after crash' } });
      expect(rerun.json()).toMatchObject({ status: 'success' });
      expect(statSync(final).size).toBe(SIZE);
    }
    expect(readdirSync(dir).filter((n) => n.endsWith('.part'))).toEqual([]);
  }, 240_000);
});

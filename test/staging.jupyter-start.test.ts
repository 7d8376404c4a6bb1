// jupyter_copy when the user's Jupyter server is down: the processor runs the configured start
// command (here: launching a real Jupyter Server), waits for it, then uploads; the file is read back.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { TestStack } from './support/stack.ts';
import { createStagingProcessor } from '../processors/staging/index.ts';
import { createStagingProjection } from '../projections/staging/index.ts';
import { makeSite, startStagingStack, stage, type Site } from './staging/fixture.ts';
import { freePort, killPidFile, readContents, startCommand } from './staging/jupyter.ts';

let site: Site;
let stack: TestStack;
let pidFile: string;
const token = 'start-test-token';
let url: string;

beforeAll(async () => {
  site = makeSite();
  const port = await freePort();
  url = `http://127.0.0.1:${port}`;
  pidFile = join(site.dir, 'jupyter.pid');
  stack = await startStagingStack({
    consumers: (deps) => [createStagingProcessor(deps), createStagingProjection(deps)],
    env: {
      ...site.env, STAGING_JUPYTER_URL_TEMPLATE: url, STAGING_JUPYTER_TOKEN: token,
      STAGING_JUPYTER_START_COMMAND: startCommand(port, token, join(site.dir, 'jupyter-{username}'), pidFile),
    },
  });
});

afterAll(async () => {
  killPidFile(pidFile);
  await stack?.stop();
  site?.cleanup();
});

describe('jupyter_copy with the server down', () => {
  it('starts the user server, then uploads through the contents API', async () => {
    const body = randomBytes(20_000);
    writeFileSync(join(site.root, 'obs', 'j.bin'), body);
    const res = await stage(stack, 'jupyter_copy', 'zoe', { local_path_on_storage: 'obs/j.bin', relative_path: 'j.bin' });
    expect(res.statusCode, res.body).toBe(200);
    expect((await readContents(url, token, 'j.bin')).equals(body)).toBe(true);
  });
});

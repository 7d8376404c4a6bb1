// The traversal/escape corpus (test/fixtures/staging/escape-corpus.json) through the gateway: every
// case is refused with 4xx and the storage root, the user areas and the outside directory are unchanged.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, symlinkSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestStack } from './support/stack.ts';
import { createStagingProcessor } from '../processors/staging/index.ts';
import { createStagingProjection } from '../projections/staging/index.ts';
import { TOPIC } from '../schemas/generated/index.ts';
import { makeSite, startStagingStack, snapshot, stage, type Site } from './staging/fixture.ts';

interface Case { name: string; method: string; username: string; src: string; dst: string; code: string }
const corpus = JSON.parse(readFileSync(join(import.meta.dirname, 'fixtures', 'staging', 'escape-corpus.json'), 'utf8')) as { cases: Case[] };

let site: Site;
let stack: TestStack;

beforeAll(async () => {
  site = makeSite({ STAGING_JUPYTER_URL_TEMPLATE: 'http://127.0.0.1:9/{username}' });
  // traps: links out of the storage root and out of the user areas
  symlinkSync(site.outside, join(site.root, 'link_out'));
  symlinkSync(join(site.outside, 'secret.txt'), join(site.root, 'obs', 'file_link_out'));
  symlinkSync(join(site.root, 'obs', 'f.dat'), join(site.root, 'obs', 'file_link_in'));
  mkdirSync(`${site.root}-evil`);
  writeFileSync(join(`${site.root}-evil`, 'secret.txt'), 'sibling\n');
  mkdirSync(site.area('mallory'), { recursive: true });
  symlinkSync(site.outside, join(site.area('mallory'), 'evil'));
  writeFileSync(join(site.outside, 'target.txt'), 'do not overwrite\n');
  symlinkSync(join(site.outside, 'target.txt'), join(site.area('mallory'), 'evil_file'));
  symlinkSync(site.outside, join(site.users, 'eve'));
  stack = await startStagingStack({ consumers: (deps) => [createStagingProcessor(deps), createStagingProjection(deps)], env: site.env });
});

afterAll(async () => {
  await stack?.stop();
  site?.cleanup();
});

/** Codes only the processor can see (it looks at the filesystem); every other refusal is lexical. */
const FS_CODES = new Set(['SYMLINK_REFUSED', 'SOURCE_NOT_REGULAR', 'SOURCE_NOT_FOUND', 'DESTINATION_CONFLICT']);

async function topicEnd(): Promise<number> {
  const admin = stack.platform.kafka.admin();
  await admin.connect();
  try {
    const offsets = await admin.fetchTopicOffsets(`${stack.config.namespace}${TOPIC.STAGING_REQUESTS}`);
    return offsets.reduce((n, p) => n + Number(p.high), 0);
  } finally {
    await admin.disconnect();
  }
}

const fill = (s: string) => s
  .replaceAll('{root}', site.root).replaceAll('{outside}', site.outside)
  .replaceAll('{long300}', 'x'.repeat(300)).replaceAll('{longpath}', 'abcdefgh/'.repeat(500) + 'x');

describe('staging escape corpus', () => {
  it('has at least 20 cases', () => expect(corpus.cases.length).toBeGreaterThanOrEqual(20));

  it.each(corpus.cases)('refuses: $name', async (c) => {
    const before = { ...snapshot(site.dir) };
    const endBefore = await topicEnd();
    const res = await stage(stack, c.method, c.username, { local_path_on_storage: fill(c.src), relative_path: fill(c.dst) });
    // refused by the gateway's checks → nothing appended; refused on the filesystem → request + StagingFailed
    if (!FS_CODES.has(c.code)) expect(await topicEnd()).toBe(endBefore);
    expect(res.statusCode, res.body).toBeGreaterThanOrEqual(400);
    expect(res.statusCode, res.body).toBeLessThan(500);
    expect(res.json().code).toBe(c.code.startsWith('DBB_') ? c.code : `DBB_STAGING_${c.code}`); // NUL: refused by the gateway for every route
    expect(snapshot(site.dir)).toEqual(before);
  });
});

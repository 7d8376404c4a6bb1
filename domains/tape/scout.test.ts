import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startTapeLibrarySim, TapeLibrary, type TapeLibrarySim } from '../../sim/tape-library/index.ts';
import { createScoutClient, ScoutError } from './scout.ts';

// No Kafka here: files never finish staging, so the simulator publishes nothing.
const library = new TapeLibrary({ kafkaBrokers: ['127.0.0.1:1'], neverStage: () => true, online: ['/on/disk.fits'] });
let nodes: TapeLibrarySim[];
let downUrl: string;

beforeAll(async () => {
  nodes = await Promise.all([0, 1].map(() => startTapeLibrarySim({ kafkaBrokers: [], library })));
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  downUrl = `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
  await new Promise<void>((r) => s.close(() => r())); // nothing listens there any more
});
afterAll(async () => { await Promise.all(nodes.map((n) => n.stop())); await library.close(); });

const client = (urls: string[], attempts = 6) => createScoutClient({ urls, user: 'dbb', password: 'dbb', attempts, backoffMs: 5, timeoutMs: 2_000 });

describe('Scout client', () => {
  it('goes round-robin and skips a node that is down', async () => {
    const scout = client([downUrl, nodes[0].url, nodes[1].url]);
    const before = library.stats.batchstageCalls;
    const endpoints = [];
    for (let i = 0; i < 4; i++) endpoints.push((await scout.batchStage(['/a'], '7', 'topic')).endpoint);
    expect(library.stats.batchstageCalls).toBe(before + 4);
    expect(endpoints).not.toContain(downUrl);
    expect(new Set(endpoints)).toEqual(new Set([nodes[0].url, nodes[1].url]));
  });

  it('skips a node answering 503 and logs in again after a 401', async () => {
    const scout = client([nodes[0].url, nodes[1].url]);
    await scout.fsCache();
    nodes[0].setFailing(true);
    library.tokens.clear();
    const logins = library.stats.logins;
    try {
      expect((await scout.fileInfo('/on/disk.fits')).offlineblocks).toBe(0);
      expect((await scout.fileInfo('/not/staged.fits')).offlineblocks).toBe(1);
    } finally {
      nodes[0].setFailing(false);
    }
    expect(library.stats.logins).toBe(logins + 1);
  });

  it('fails after its tries when every node is down, and at once on a 4xx', async () => {
    await expect(client([downUrl], 3).fsCache()).rejects.toThrow(/failed on every node after 3 tries/);
    const bad = client([nodes[0].url]).call('PUT', '/v1/request/batchstage', { key: '1' });
    await expect(bad).rejects.toBeInstanceOf(ScoutError);
    await expect(bad).rejects.toThrow(/HTTP 400/);
  });

  it('refuses bad credentials', async () => {
    const scout = createScoutClient({ urls: [nodes[0].url], user: 'dbb', password: 'wrong', attempts: 2, backoffMs: 5, timeoutMs: 2_000 });
    await expect(scout.fsCache()).rejects.toThrow(/login .* failed with HTTP 401/);
  });
});

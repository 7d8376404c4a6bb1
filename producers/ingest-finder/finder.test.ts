import { describe, expect, it } from 'vitest';
import { mkdtemp, mkdir, writeFile, readFile, link, open, access, utimes, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import pino from 'pino';
import { createFinder } from './index.ts';
import { Journal } from './journal.ts';
import { sha256File } from '../../domains/ingest/files.ts';
import { validateIngestConfig, type FinderConfig } from '../../domains/ingest/config.ts';
import type { Appender } from '../../platform/types.ts';
import { fileIdOf } from '../../domains/ingest/ids.ts';
import { storageEventsConsumer } from './storage-events.ts';
import type { DecodedEvent, HandlerContext } from '../../platform/types.ts';
import { InvalidEventError, TransientError } from '../../platform/errors.ts';

const log = pino({ level: 'silent' });

/** appendMany over `append`, one event after the other: a failed event stops the group (all or a prefix). */
function withMany(a: Pick<Appender, 'append'>): Appender {
  return {
    append: a.append,
    async appendMany(events) {
      const out = [];
      for (const e of events) out.push(await a.append(e.name, e.key, e.body as never, e.opts));
      return out;
    },
  };
}

function recorder() {
  const events: { name: string; key: string; body: any; eventId?: string }[] = [];
  const appender = withMany({
    async append(name, key, body, opts) {
      events.push({ name, key, body, eventId: opts?.eventId });
      return { eventId: opts?.eventId ?? 'x', occurredAt: 0, correlationId: 'c', causationId: null, actor: null, source: 't' };
    },
  });
  return { appender, events };
}

async function dirs(over: Record<string, unknown> = {}) {
  const root = await mkdtemp(join(tmpdir(), 'finder-'));
  const cfg = validateIngestConfig({ finder: { source: join(root, 'buffer'), storage: join(root, 'storage'), search: { stableMs: 0 }, ...over } }).finder as FinderConfig;
  await mkdir(cfg.source, { recursive: true });
  await mkdir(cfg.storage, { recursive: true });
  return cfg;
}

async function put(path: string, content: string, ageMs = 10_000) {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, content);
  const t = (Date.now() - ageMs) / 1000;
  await utimes(path, t, t);
}

const gone = (p: string) => access(p).then(() => false, () => true);

describe('ingest finder (real files, recording appender)', () => {
  it('moves complete files into storage keeping the relative path, and reports them', async () => {
    const cfg = await dirs();
    await put(join(cfg.source, '2020-12-31/a.fits'), 'AAA');
    await put(join(cfg.source, 'b.fits'), 'BBB');
    await put(join(cfg.source, '.partial.tmp'), 'xx');
    const { appender, events } = recorder();
    const finder = await createFinder({ appender, log }, cfg);
    expect(await finder.scanOnce()).toMatchObject({ taken: 2 });
    expect(await readFile(join(cfg.storage, '2020-12-31/a.fits'), 'utf8')).toBe('AAA');
    expect(await gone(join(cfg.source, '2020-12-31/a.fits'))).toBe(true);
    expect(events.map((e) => e.name).sort()).toEqual(['FileDiscovered', 'FileDiscovered', 'FileMoved', 'FileMoved']);
    const moved = events.find((e) => e.name === 'FileMoved' && e.body.relPath === '2020-12-31/a.fits')!;
    expect(moved.key).toBe(fileIdOf('2020-12-31/a.fits', await sha256File(join(cfg.storage, '2020-12-31/a.fits'))));
    expect(await gone(join(cfg.source, '.partial.tmp'))).toBe(false);
  });

  it('deletes an identical duplicate (Delete), keeps it once (Keep), and never overwrites a different file', async () => {
    for (const alternative of ['Delete', 'Keep'] as const) {
      const cfg = await dirs({ actions: { standard: 'Move', alternative } });
      await put(join(cfg.storage, 'x/dup.fits'), 'SAME');
      await put(join(cfg.storage, 'x/clash.fits'), 'OLD');
      await put(join(cfg.source, 'x/dup.fits'), 'SAME');
      await put(join(cfg.source, 'x/clash.fits'), 'NEW');
      const { appender, events } = recorder();
      const finder = await createFinder({ appender, log }, cfg);
      await finder.scanOnce();
      expect(events.find((e) => e.name === 'DuplicateFound')?.body).toMatchObject({ relPath: 'x/dup.fits', action: alternative });
      expect(events.find((e) => e.name === 'FileConflictFound')?.body).toMatchObject({ relPath: 'x/clash.fits', reason: expect.stringMatching(/nothing was overwritten/) });
      expect(await readFile(join(cfg.storage, 'x/clash.fits'), 'utf8')).toBe('OLD');
      expect(await readFile(join(cfg.source, 'x/clash.fits'), 'utf8')).toBe('NEW');
      expect(await gone(join(cfg.source, 'x/dup.fits'))).toBe(alternative === 'Delete');
      const before = events.length;
      await finder.scanOnce();
      expect(events.length, 'kept and conflicting files are reported once').toBe(before);
    }
  });

  it('does not take a file that is still being written (stable) or still open (closed)', async () => {
    const cfg = await dirs({ search: { stableMs: 60_000 } });
    await put(join(cfg.source, 'young.fits'), 'Y', 0);
    const { appender, events } = recorder();
    const finder = await createFinder({ appender, log }, cfg);
    expect(await finder.scanOnce()).toMatchObject({ taken: 0, waiting: 1 });
    expect(events).toEqual([]);

    const closed = await dirs({ search: { stableMs: 0, complete: 'closed' } });
    const path = join(closed.source, 'open.fits');
    await put(path, 'half');
    const fh = await open(path, 'a');
    const f2 = await createFinder({ appender, log }, closed);
    expect(await f2.scanOnce()).toMatchObject({ taken: 0, waiting: 1 });
    await fh.close();
    expect(await f2.scanOnce()).toMatchObject({ taken: 1 });
    expect(events.some((e) => e.name === 'FileMoved')).toBe(true);
  });

  it('reconciles a crash between the move and its event on restart, without duplicating or losing the file', async () => {
    const cfg = await dirs();
    const src = join(cfg.source, 'c.fits');
    await put(src, 'CCC');
    const checksum = await sha256File(src);
    const dest = join(cfg.storage, 'c.fits');
    const journal = new Journal(join(cfg.storage, '.dbb-finder'));
    await journal.open();
    const fileId = fileIdOf('c.fits', checksum);
    journal.write([{ fileId, rel: 'c.fits', src, dest, size: 3, mtimeMs: 0, ino: 0, checksum, existingChecksum: null, action: 'move', discoveredId: '11111111-1111-4111-8111-111111111111', outcomeId: '22222222-2222-4222-8222-222222222222', discoveredAt: 1 }]);
    await link(src, dest); // the crash came after link, before unlink and before FileMoved
    const { appender, events } = recorder();
    await createFinder({ appender, log }, cfg);
    expect(events.map((e) => [e.name, e.eventId])).toEqual([
      ['FileDiscovered', '11111111-1111-4111-8111-111111111111'],
      ['FileMoved', '22222222-2222-4222-8222-222222222222'],
    ]);
    expect(await gone(src)).toBe(true);
    expect(await readFile(dest, 'utf8')).toBe('CCC');
    expect(await readdir(join(cfg.storage, '.dbb-finder', 'pending'))).toEqual([]);
  });

  it('in watch mode takes a new file at once, also in a directory created after the start', async () => {
    const cfg = await dirs({ search: { method: 'watch', interval: 600_000, stableMs: 0 } });
    const { appender, events } = recorder();
    const finder = await createFinder({ appender, log }, cfg);
    finder.start();
    try {
      const until = async (n: number) => { for (let i = 0; i < 400 && events.filter((e) => e.name === 'FileMoved').length < n; i++) await new Promise((r) => setTimeout(r, 25)); };
      await new Promise((r) => setTimeout(r, 100)); // first (empty) scan done, watchers set
      await put(join(cfg.source, 'w1.fits'), 'W1');
      await until(1);
      await put(join(cfg.source, 'new-dir/w2.fits'), 'W2');
      await until(2);
      expect(events.filter((e) => e.name === 'FileMoved').map((e) => e.body.relPath).sort()).toEqual(['new-dir/w2.fits', 'w1.fits']);
    } finally {
      await finder.stop();
    }
  });

  it('retries a file whose outcome event could not be appended (broker down) on the next scan, though it left the source', async () => {
    const cfg = await dirs();
    await put(join(cfg.source, 'r.fits'), 'RRR');
    const { appender, events } = recorder();
    let failOnce = true;
    const flaky = withMany({
      async append(name, key, body, opts) {
        if (name === 'FileMoved' && failOnce) { failOnce = false; throw new Error('broker down'); }
        return appender.append(name, key, body, opts);
      },
    });
    const finder = await createFinder({ appender: flaky, log }, cfg);
    await finder.scanOnce();
    expect(events.map((e) => e.name)).toEqual(['FileDiscovered']);
    expect(await gone(join(cfg.source, 'r.fits'))).toBe(true);
    await finder.scanOnce();
    expect(events.map((e) => e.name)).toEqual(['FileDiscovered', 'FileDiscovered', 'FileMoved']);
    expect(events[0].eventId).toBe(events[1].eventId);
    expect(await readFile(join(cfg.storage, 'r.fits'), 'utf8')).toBe('RRR');
    expect(await readdir(join(cfg.storage, '.dbb-finder', 'pending'))).toEqual([]);
  });
  it('keeps in the journal only the files of a batch whose events failed, and a restart re-drives only those', async () => {
    const cfg = await dirs();
    await put(join(cfg.source, 'ok.fits'), 'OK');
    await put(join(cfg.source, 'r.fits'), 'RRR');
    const { appender, events } = recorder();
    const flaky = withMany({
      async append(name, key, body, opts) {
        if (name === 'FileMoved' && (body as unknown as { relPath: string }).relPath === 'r.fits') throw new Error('broker down');
        return appender.append(name, key, body, opts);
      },
    });
    await (await createFinder({ appender: flaky, log }, cfg)).scanOnce();
    const pending = join(cfg.storage, '.dbb-finder', 'pending');
    const entries = await readdir(pending);
    expect(entries).toHaveLength(1);
    expect(JSON.parse(await readFile(join(pending, entries[0]), 'utf8')).map((i: { rel: string }) => i.rel)).toEqual(['r.fits']);
    events.length = 0;
    await createFinder({ appender, log }, cfg); // a restart
    expect(events.map((e) => [e.name, e.body.relPath])).toEqual([['FileDiscovered', 'r.fits'], ['FileMoved', 'r.fits']]);
    expect(await readdir(pending)).toEqual([]);
    expect(await readFile(join(cfg.storage, 'r.fits'), 'utf8')).toBe('RRR');
  });
  it('in events mode takes only the named file; a record whose events cannot be appended is retried (transient) and completes the move', async () => {
    const cfg = await dirs({ search: { method: 'events', stableMs: 0 } });
    await put(join(cfg.source, 'n/e.fits'), 'EEE');
    await put(join(cfg.source, 'other.fits'), 'OOO');
    const { appender, events } = recorder();
    let down = true;
    const flaky = withMany({
      async append(name, key, body, opts) {
        if (name === 'FileMoved' && down) throw new Error('broker down');
        return appender.append(name, key, body, opts);
      },
    });
    const finder = await createFinder({ appender: flaky, log }, cfg);
    const spec = storageEventsConsumer(finder, cfg);
    const record = { key: null, value: Buffer.from(JSON.stringify({ path: 'n/e.fits' })), offset: '0', timestamp: '0' };
    const f = spec.decode!(record, cfg.events.topic, 0);
    const event = { ...f, key: '', topic: cfg.events.topic, partition: 0, offset: '0' } as unknown as DecodedEvent;
    const ctx = { log } as unknown as HandlerContext;
    await expect(spec.handle(event, ctx)).rejects.toBeInstanceOf(TransientError);
    expect(await gone(join(cfg.source, 'n/e.fits'))).toBe(true); // moved, its FileMoved not yet out
    down = false;
    await spec.handle(event, ctx); // the runtime retries the record
    expect(events.filter((e) => e.name === 'FileMoved').map((e) => e.body.relPath)).toEqual(['n/e.fits']);
    expect(await readFile(join(cfg.storage, 'n/e.fits'), 'utf8')).toBe('EEE');
    expect(await gone(join(cfg.source, 'other.fits')), 'no walk').toBe(false);
    await expect(spec.handle({ ...event, value: { ...(event.value as object), paths: ['../x'] } } as unknown as DecodedEvent, ctx)).rejects.toBeInstanceOf(InvalidEventError);
  });
});

// The ingest finder (edge producer): finds complete files in the source buffer, moves them into
// storage keeping their relative path (or applies the alternative action to duplicates, or reports a
// same-name conflict without overwriting) and appends FileDiscovered / FileMoved / DuplicateFound /
// FileConflictFound. Crash-safe: an intent journal is written first and reconciled on restart.
import { watch, type FSWatcher } from 'node:fs';
import { unlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Appender, AppendItem } from '../../platform/types.ts';
import { fileIdOf } from '../../domains/ingest/ids.ts';
import type { FinderConfig } from '../../domains/ingest/config.ts';
import { Limiter } from '../../platform/limiter.ts';
import { openFiles, walk, type Candidate } from './fsops.ts';
import { DestinationExists, exists, moveNoOverwrite, sha256File } from '../../domains/ingest/files.ts';
import { Journal, type Action, type Intent } from './journal.ts';
import { openSource, StagingRefusal } from '../../platform/safe-fs.ts';

export const FINDER_SOURCE = 'ingest-finder';

export interface FinderDeps {
  appender: Appender;
  log: Logger;
  now?: () => number;
}

export interface ScanReport { seen: number; taken: number; waiting: number }

/** What became of a file named by a storage event; `refused`: a link on the way, not a regular file, not there. */
export type TakeOutcome = 'taken' | 'changing' | 'busy' | 'excluded' | 'already-taken' | { refused: string };

export interface Finder {
  /** One scan of the source, resolving when every file it took is handled. */
  scanOnce(): Promise<ScanReport>;
  /** Handled files so far, by outcome. */
  readonly stats: Record<Action | 'skipped', number>;
  /** Handles one file named by a storage event (see storage-events.ts). */
  takeFile(components: string[]): Promise<TakeOutcome>;
  /** Starts the daemon loop: scans every `search.interval` ms, at once on fs.watch events in watch mode
   *  (in events mode there is no loop: storage-events.ts calls takeFile). */
  start(): void;
  stop(): Promise<void>;
}

export async function createFinder(deps: FinderDeps, cfg: FinderConfig): Promise<Finder> {
  const now = deps.now ?? Date.now;
  const log = deps.log.child({ component: FINDER_SOURCE });
  const source = resolve(cfg.source);
  const storage = resolve(cfg.storage);
  const journal = new Journal(resolve(cfg.journal ?? join(storage, '.dbb-finder')));
  await journal.open();
  const seen = await journal.loadSeen();
  const exclude = cfg.search.exclude.map((r) => new RegExp(r));
  const limiter = new Limiter(cfg.concurrency);
  const inflight = new Set<string>();
  const stats: Record<Action | 'skipped', number> = { move: 0, delete: 0, keep: 0, conflict: 0, skipped: 0 };

  const appendMany = deps.appender.appendMany?.bind(deps.appender);
  if (!appendMany) throw new Error('the finder needs an appender with appendMany (platform/producer.ts createAppender)');

  /** A file's two events: FileDiscovered, then the outcome of its action. */
  function eventsOf(i: Intent): AppendItem[] {
    const discovered: AppendItem = {
      name: 'FileDiscovered', key: i.fileId,
      body: { fileId: i.fileId, relPath: i.rel, sourcePath: i.src, size: i.size, checksum: i.checksum, mtime: Math.round(i.mtimeMs) },
      opts: { eventId: i.discoveredId, correlationId: i.discoveredId, occurredAt: i.discoveredAt },
    };
    const opts = { eventId: i.outcomeId, correlationId: i.discoveredId, causationId: i.discoveredId };
    const base = { fileId: i.fileId, relPath: i.rel, sourcePath: i.src, storagePath: i.dest, size: i.size, checksum: i.checksum };
    const outcome: AppendItem = i.action === 'move' ? { name: 'FileMoved', key: i.fileId, body: base, opts }
      : i.action === 'conflict' ? {
        name: 'FileConflictFound', key: i.fileId, opts, body: {
          ...base, existingChecksum: i.existingChecksum ?? '',
          reason: `a different file with the same name is already in storage (${i.dest}); the new file stays in the source, nothing was overwritten`,
        },
      }
      : { name: 'DuplicateFound', key: i.fileId, body: { ...base, action: i.action === 'delete' ? 'Delete' : 'Keep' }, opts };
    return [discovered, outcome];
  }

  const madeDirs = new Set<string>();

  /** Performs the intent's action; safe to repeat after a crash at any point (`fresh`: first try, nothing done yet). */
  async function act(i: Intent, fresh = false): Promise<Intent> {
    if (i.action === 'move' && fresh) {
      try {
        await moveNoOverwrite(i.src, i.dest, madeDirs);
        return i;
      } catch (err) {
        if (!(err instanceof DestinationExists)) throw err;
        return act(i); // someone raced us to the name: re-evaluate
      }
    }
    if (i.action === 'move') {
      const dest = await exists(i.dest);
      const src = await exists(i.src);
      if (dest && src && dest.ino === src.ino) { await unlink(i.src); return i; } // crashed between link and unlink
      if (dest) {
        if (!dest.isFile) return { ...i, action: 'conflict', existingChecksum: '(not a regular file)' };
        if (dest.size === i.size && (await sha256File(i.dest)) === i.checksum) {
          if (src && src.size === i.size && (await sha256File(i.src)) === i.checksum) await unlink(i.src);
          return i;
        }
        return { ...i, action: 'conflict', existingChecksum: await sha256File(i.dest) };
      }
      if (!src) throw new Error(`${i.src} vanished before it could be moved, and it is not in storage`);
      try {
        await moveNoOverwrite(i.src, i.dest, madeDirs);
      } catch (err) {
        if (err instanceof DestinationExists) return act(i); // someone raced us to the name: re-evaluate
        throw err;
      }
      return i;
    }
    if (i.action === 'delete') {
      const src = await exists(i.src);
      if (src && src.size === i.size && Math.round(src.mtimeMs) === Math.round(i.mtimeMs)) await unlink(i.src);
      return i;
    }
    await journal.markSeen(i.rel, i.size, i.mtimeMs);
    seen.set(i.rel, `${i.size}:${i.mtimeMs}`);
    return i;
  }

  /** Intents whose handling failed after the journal write (e.g. broker down): retried on the next scans,
   *  since the file may already have left the source. */
  const retry = new Set<string>();

  /** Carries out intents already in the journal: every file's action, then per file FileDiscovered and the
   *  outcome as one group (written both, or FileDiscovered alone, or neither: never the outcome without it),
   *  all groups queued at once so the producer sends them together. The files through leave the journal with
   *  one write; a failed one stays there and is retried. Returns the failures. `fresh`: first try, nothing done yet. */
  async function complete(intents: Intent[], fresh: boolean): Promise<{ intent: Intent; err: unknown }[]> {
    const results = await Promise.allSettled(intents.map(async (i) => {
      const done = await act(i, fresh);
      if (done.action !== i.action) journal.update(done); // a move that turned into a conflict
      await appendMany!(eventsOf(done));
      stats[done.action]++;
    }));
    const through: string[] = [];
    const failed: { intent: Intent; err: unknown }[] = [];
    results.forEach((r, n) => {
      const { fileId } = intents[n];
      if (r.status === 'fulfilled') { through.push(fileId); retry.delete(fileId); } else { failed.push({ intent: intents[n], err: r.reason }); retry.add(fileId); }
    });
    journal.done(through);
    return failed;
  }

  /** What to do with a complete file; null: it changed while it was hashed (still being written), nothing done. */
  async function intentFor(c: Candidate): Promise<Intent | null> {
    const checksum = await sha256File(c.path, c.size);
    const again = await exists(c.path);
    if (!again || again.size !== c.size || again.mtimeMs !== c.mtimeMs) { stats.skipped++; return null; }
    const fileId = fileIdOf(c.rel, checksum);
    const dest = join(storage, ...c.rel.split('/'));
    const there = await exists(dest);
    let action: Action = 'move';
    let existingChecksum: string | null = null;
    if (there) {
      existingChecksum = there.isFile ? await sha256File(dest, there.size) : '(not a regular file)';
      action = existingChecksum === checksum ? (cfg.actions.alternative === 'Delete' ? 'delete' : 'keep') : 'conflict';
    }
    return {
      fileId, rel: c.rel, src: c.path, dest, size: c.size, mtimeMs: c.mtimeMs, ino: c.ino, checksum, existingChecksum, action,
      discoveredId: randomUUID(), outcomeId: randomUUID(), discoveredAt: now(),
    };
  }

  /** Hashes and decides the candidates (`concurrency` at once: large files are streamed), writes their
   *  intents as one journal entry and carries them out. */
  async function handle(cs: Candidate[]): Promise<{ intent: Intent; err: unknown }[]> {
    const intents: Intent[] = [];
    await Promise.all(cs.map((c) => limiter.run(() => intentFor(c)).then(
      (i) => { if (i) intents.push(i); },
      (err) => log.error({ err, file: c.rel }, 'finder: file not handled; retried on the next scan'),
    )));
    if (!intents.length) return [];
    journal.write(intents);
    return complete(intents, true);
  }

  /** Re-drives journal intents (all of them at start, after a crash; the failed ones later): the state on
   *  disk decides what is left to do, and events go out again with their original ids (duplicates are dropped). */
  async function recover(intents: Intent[]) {
    const todo = intents.filter((i) => !inflight.has(i.rel));
    for (const i of todo) inflight.add(i.rel);
    try {
      for (const { intent, err } of await complete(todo, false)) {
        log.error({ err, file: intent.rel }, 'finder: could not complete an interrupted file; it stays in the journal and is retried');
      }
    } finally {
      for (const i of todo) inflight.delete(i.rel);
    }
  }

  let openSet: Set<string> | null = null;
  function isComplete(c: Candidate, t: number): boolean {
    if (t - c.mtimeMs < cfg.search.stableMs) return false;
    if (cfg.search.complete === 'closed' && openSet?.has(c.path)) return false;
    return true;
  }

  let nextDue = Infinity;
  async function scanOnce(): Promise<ScanReport> {
    if (retry.size) await recover(journal.intents(retry));
    const dirs = new Set<string>();
    const all = await walk(source, exclude, dirs);
    if (watching) syncWatchers(dirs);
    const t = now();
    const fresh = all.filter((c) => !inflight.has(c.rel) && seen.get(c.rel) !== `${c.size}:${c.mtimeMs}`);
    openSet = cfg.search.complete === 'closed' && fresh.length ? await openFiles() : null;
    const ready: Candidate[] = [];
    nextDue = Infinity;
    for (const c of fresh) {
      if (isComplete(c, t)) ready.push(c);
      else nextDue = Math.min(nextDue, Math.max(c.mtimeMs + cfg.search.stableMs, t + 50));
    }
    for (const c of ready) inflight.add(c.rel);
    // batches of `concurrency` files, two at a time: one is hashed and moved while the other waits for its acknowledgements
    const batches = Array.from({ length: Math.ceil(ready.length / cfg.concurrency) }, (_, k) => ready.slice(k * cfg.concurrency, (k + 1) * cfg.concurrency));
    let next = 0;
    await Promise.all([0, 1].map(async () => {
      while (next < batches.length) {
        const k = next++;
        try {
          for (const { intent, err } of await handle(batches[k])) log.error({ err, file: intent.rel }, 'finder: file not handled; retried on the next scan');
        } finally {
          for (const c of batches[k]) inflight.delete(c.rel);
        }
      }
    }));
    return { seen: all.length, taken: ready.length, waiting: fresh.length - ready.length };
  }

  /** A file a storage event names (`components`: its path below the source, checked lexically): taken at
   *  once, as a scan takes a complete file; the event is the storage system's word that it is complete. */
  async function takeFile(components: string[]): Promise<TakeOutcome> {
    if (retry.size) await recover(journal.intents(retry)); // files whose events failed before (a retried record brings this one back here)
    const rel = components.join('/');
    if (components.some((c) => c.startsWith('.')) || exclude.some((r) => r.test(rel))) return 'excluded';
    let st;
    try {
      const opened = await openSource(source, components); // no symbolic link on the way, a regular file at the end
      st = opened.stat;
      await opened.close();
    } catch (err) {
      if (!(err instanceof StagingRefusal)) throw err;
      if (err.code !== 'SOURCE_NOT_FOUND') return { refused: err.message };
      return (await exists(join(storage, ...components)))?.isFile ? 'already-taken' : { refused: `not in the buffer: ${join(source, ...components)}` };
    }
    if (seen.get(rel) === `${st.size}:${st.mtimeMs}`) return 'already-taken';
    if (inflight.has(rel)) return 'busy';
    inflight.add(rel);
    try {
      const c: Candidate = { rel, path: join(source, ...components), size: st.size, mtimeMs: st.mtimeMs, ino: st.ino };
      const intent = await limiter.run(() => intentFor(c));
      if (!intent) return 'changing';
      journal.write([intent]);
      const [failed] = await complete([intent], true);
      if (failed) throw failed.err;
      return 'taken';
    } finally {
      inflight.delete(rel);
    }
  }

  const interrupted = await journal.load();
  if (interrupted.length) log.warn({ count: interrupted.length }, 'finder: reconciling files interrupted by a crash');
  await recover(interrupted);

  let stopped = false;
  let timer: NodeJS.Timeout | null = null;
  let running: Promise<unknown> | null = null;
  // one non-recursive watcher (an inotify watch) per directory: Node 20's recursive mode on Linux
  // emulates recursion in JS with a watcher per file, far too heavy for a buffer of many files
  let watching = false;
  const watchers = new Map<string, FSWatcher>();
  function syncWatchers(dirs: Set<string>) {
    for (const [dir, w] of watchers) if (!dirs.has(dir)) { w.close(); watchers.delete(dir); }
    for (const dir of dirs) {
      if (watchers.has(dir)) continue;
      try {
        const w = watch(dir, () => schedule(20));
        w.on('error', () => { w.close(); watchers.delete(dir); });
        watchers.set(dir, w);
      } catch (err) {
        log.warn({ err, dir }, 'finder: cannot watch directory; the periodic scan covers it');
      }
    }
  }
  const schedule = (ms: number) => {
    if (stopped) return;
    if (timer) clearTimeout(timer);
    timer = setTimeout(loop, Math.max(0, ms));
  };
  const loop = () => {
    timer = null;
    if (running) return void running.then(() => schedule(0));
    running = scanOnce()
      .catch((err) => log.error({ err }, 'finder: scan failed'))
      .finally(() => {
        running = null;
        schedule(Math.min(cfg.search.interval, nextDue - now()));
      });
  };

  return {
    scanOnce,
    takeFile,
    stats,
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      watching = false;
      for (const w of watchers.values()) w.close();
      watchers.clear();
      await running;
    },
    start() {
      if (cfg.search.method === 'events') return;
      watching = cfg.search.method === 'watch';
      schedule(0);
    },
  };
}

/** Runs the finder as a daemon until `signal` aborts (what `dbb ingest finder CONFIG` calls). */
export async function runFinder(deps: FinderDeps, cfg: FinderConfig, signal?: AbortSignal): Promise<Finder> {
  const finder = await createFinder(deps, cfg);
  finder.start();
  signal?.addEventListener('abort', () => void finder.stop(), { once: true });
  return finder;
}

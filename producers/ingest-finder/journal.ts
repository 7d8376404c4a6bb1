// The finder's crash journal: the intents of a batch of files as one entry, written before any event or
// move of them, rewritten without the files that are through, and removed when all are; plus the "seen"
// marks of files deliberately left in the source (Keep, conflicts) so they are not reported again on
// every scan.
import { createHash, randomUUID } from 'node:crypto';
import { renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { mkdir, readdir, readFile, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export type Action = 'move' | 'delete' | 'keep' | 'conflict';

export interface Intent {
  fileId: string;
  rel: string;
  src: string;
  dest: string;
  size: number;
  mtimeMs: number;
  ino: number;
  checksum: string;
  existingChecksum: string | null;
  action: Action;
  discoveredId: string;
  outcomeId: string;
  discoveredAt: number;
}

const h = (s: string) => createHash('sha1').update(s).digest('hex');

export class Journal {
  private readonly pending: string;
  private readonly seenDir: string;
  /** the intents not yet through, by entry (file name in `pending`) */
  private readonly entries = new Map<string, Map<string, Intent>>();
  private readonly entryOf = new Map<string, string>();

  constructor(readonly dir: string) {
    this.pending = join(dir, 'pending');
    this.seenDir = join(dir, 'seen');
  }

  async open(): Promise<void> {
    await mkdir(this.pending, { recursive: true });
    await mkdir(this.seenDir, { recursive: true });
  }

  /** Written (whole, by a rename) before anything else happens for these files. Synchronous: see
   *  domains/ingest/files.ts. */
  write(intents: Intent[]): void {
    const name = `${randomUUID()}.json`;
    this.store(name, new Map(intents.map((i) => [i.fileId, i])));
    for (const i of intents) this.entryOf.set(i.fileId, name);
  }

  /** Replaces a file's intent (a move that turned into a conflict). */
  update(i: Intent): void {
    const name = this.entryOf.get(i.fileId);
    const entry = name && this.entries.get(name);
    if (!entry) throw new Error(`no journal intent for ${i.fileId}`);
    entry.set(i.fileId, i);
    this.store(name, entry);
  }

  /** The files are through: their intents go; the entry is rewritten without them, or removed. */
  done(fileIds: string[]): void {
    const touched = new Set<string>();
    for (const id of fileIds) {
      const name = this.entryOf.get(id);
      if (!name) continue;
      this.entryOf.delete(id);
      this.entries.get(name)?.delete(id);
      touched.add(name);
    }
    for (const name of touched) {
      const entry = this.entries.get(name)!;
      if (entry.size) this.store(name, entry);
      else {
        this.entries.delete(name);
        try { unlinkSync(join(this.pending, name)); } catch { /* already gone */ }
      }
    }
  }

  /** The intents not yet through, `ids` only when given. */
  intents(ids?: Set<string>): Intent[] {
    return [...this.entries.values()].flatMap((e) => [...e.values()]).filter((i) => !ids || ids.has(i.fileId));
  }

  /** Loads the entries on disk (a restart after a crash) and drops leftover temp files. */
  async load(): Promise<Intent[]> {
    for (const f of await readdir(this.pending)) {
      const p = join(this.pending, f);
      if (f.startsWith('.')) { await unlink(p).catch(() => {}); continue; }
      let parsed: Intent | Intent[];
      try { parsed = JSON.parse(await readFile(p, 'utf8')); } catch { await unlink(p).catch(() => {}); continue; } // torn: an entry of the old one-file-per-intent format, nothing done yet
      const intents = Array.isArray(parsed) ? parsed : [parsed];
      this.entries.set(f, new Map(intents.map((i) => [i.fileId, i])));
      for (const i of intents) this.entryOf.set(i.fileId, f);
    }
    return this.intents();
  }

  private store(name: string, entry: Map<string, Intent>) {
    this.entries.set(name, entry);
    const tmp = join(this.pending, `.${name}.tmp`);
    writeFileSync(tmp, JSON.stringify([...entry.values()]));
    renameSync(tmp, join(this.pending, name));
  }

  markSeen(rel: string, size: number, mtimeMs: number): Promise<void> {
    return writeFile(join(this.seenDir, h(rel)), JSON.stringify({ rel, size, mtimeMs }));
  }

  async loadSeen(): Promise<Map<string, string>> {
    const seen = new Map<string, string>();
    for (const f of await readdir(this.seenDir)) {
      try {
        const s = JSON.parse(await readFile(join(this.seenDir, f), 'utf8'));
        seen.set(s.rel, `${s.size}:${s.mtimeMs}`);
      } catch { /* torn mark: the file is simply reported again */ }
    }
    return seen;
  }

  forget(rel: string): Promise<void> {
    return unlink(join(this.seenDir, h(rel))).catch(() => {});
  }
}

// The finder's crash journal: an intent entry per file, written before any event or move and removed
// after the outcome event is acknowledged; plus the "seen" marks of files deliberately left in the
// source (Keep, conflicts) so they are not reported again on every scan.
import { createHash } from 'node:crypto';
import { unlinkSync, writeFileSync } from 'node:fs';
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
  constructor(readonly dir: string) {
    this.pending = join(dir, 'pending');
    this.seenDir = join(dir, 'seen');
  }

  async open(): Promise<void> {
    await mkdir(this.pending, { recursive: true });
    await mkdir(this.seenDir, { recursive: true });
  }

  /** Written before anything else happens for the file: a torn entry therefore means nothing was done yet. */
  async write(i: Intent): Promise<void> {
    writeFileSync(join(this.pending, `${i.fileId}.json`), JSON.stringify(i)); // synchronous: see fsops.ts
  }

  async done(fileId: string): Promise<void> {
    try { unlinkSync(join(this.pending, `${fileId}.json`)); } catch { /* already gone */ }
  }

  async list(): Promise<Intent[]> {
    const out: Intent[] = [];
    for (const f of await readdir(this.pending)) {
      const p = join(this.pending, f);
      try { out.push(JSON.parse(await readFile(p, 'utf8')) as Intent); } catch { await unlink(p).catch(() => {}); }
    }
    return out;
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

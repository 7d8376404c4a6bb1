// Formats chunk files on worker threads, so the float → text work of a batch's chunks runs in parallel
// and off the event loop the gateway shares. Same output as effects.ts chunkJson; any worker failure
// falls back to formatting inline. Workers are unref'd: they never keep a process alive.
//
// `write` goes one step further: the worker formats the file and writes it as a temp file (fsync'd when
// asked), so neither the text nor the write ever touch the event loop; the processor only renames it
// into data/ when the rules decide to store the chunk (docs/gw.md, "Files on disk").
import { Worker } from 'node:worker_threads';
import { chunkJson, type ChunkFormat } from '../../domains/gw/chunk-file.ts';

// plain JS (eval) so the worker needs no TypeScript loader, under tsx and vitest alike
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const fs = require('node:fs');
const { dirname } = require('node:path');
function text(h, t0, dt, format) {
  const samples = new Float64Array(h.buffer, h.byteOffset, h.byteLength / 8);
  if (format === 'json-b64') return '{"h_b64":"' + Buffer.from(h.buffer, h.byteOffset, h.byteLength).toString('base64') + '","dtype":"float64le","n":' + samples.length + ',"t":' + JSON.stringify([t0, dt]) + '}';
  const a = new Array(samples.length); // as chunkJson: an indexed loop, not Array.from
  for (let i = 0; i < samples.length; i++) a[i] = samples[i];
  return JSON.stringify({ h: a, t: [t0, dt] });
}
function writeFile(path, body, fsync) {
  let fd;
  try { fd = fs.openSync(path, 'w'); } catch (err) {
    if (err.code !== 'ENOENT') throw err;
    fs.mkdirSync(dirname(path), { recursive: true });
    fd = fs.openSync(path, 'w');
  }
  try {
    // JSON of numbers (or base64) is ASCII: the string's length is its byte count
    fs.writeFileSync(fd, body);
    if (fsync) fs.fsyncSync(fd);
  } finally { fs.closeSync(fd); }
}
parentPort.on('message', ({ id, h, t0, dt, format, path, fsync }) => {
  try {
    const body = text(h, t0, dt, format);
    if (path) {
      writeFile(path, body, fsync);
      parentPort.postMessage({ id, bytes: body.length });
      return;
    }
    const out = Buffer.from(body, 'latin1');
    // a Buffer this size owns its ArrayBuffer: hand it over without copying
    const ab = out.byteOffset === 0 && out.buffer.byteLength === out.length ? out.buffer : out.buffer.slice(out.byteOffset, out.byteOffset + out.byteLength);
    parentPort.postMessage({ id, ab }, [ab]);
  } catch (err) {
    parentPort.postMessage({ id, error: String(err && err.message || err) });
  }
});
`;

interface Pending { resolve: (m: { ab?: ArrayBuffer; bytes?: number }) => void; reject: (e: Error) => void }

/** A chunk file written by a worker under a temp name: rename it into place, or remove it. */
export interface Prewritten { tmp: string; bytes: number }

export class FormatPool {
  private workers: { w: Worker; busy: number }[] = [];
  private pending = new Map<number, Pending>();
  private nextId = 0;
  private broken = false;

  constructor(readonly size: number) {}

  private start() {
    for (let i = 0; i < this.size; i++) {
      const w = new Worker(WORKER_SOURCE, { eval: true });
      w.unref();
      const slot = { w, busy: 0 };
      w.on('message', (m: { id: number; ab?: ArrayBuffer; bytes?: number; error?: string }) => {
        slot.busy--;
        const p = this.pending.get(m.id);
        this.pending.delete(m.id);
        if (!p) return;
        if (m.error === undefined) p.resolve(m);
        else p.reject(new Error(m.error ?? 'format worker failed'));
      });
      w.on('error', (err) => this.fail(err));
      w.on('exit', () => this.fail(new Error('format worker exited')));
      this.workers.push(slot);
    }
  }

  private fail(err: Error) {
    this.broken = true;
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }

  private post(h: Buffer, msg: { t0: number; dt: number; format: ChunkFormat; path?: string; fsync?: boolean }): Promise<{ ab?: ArrayBuffer; bytes?: number }> {
    if (!this.workers.length) this.start();
    const slot = this.workers.reduce((a, b) => (b.busy < a.busy ? b : a));
    slot.busy++;
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      // one copy of the strain (128 KiB) into a buffer the worker can own; the Avro slice it comes from
      // shares the fetched batch's memory
      const ab = h.buffer.slice(h.byteOffset, h.byteOffset + h.byteLength) as ArrayBuffer;
      slot.w.postMessage({ id, h: new Uint8Array(ab), ...msg }, [ab]);
    });
  }

  private get usable() { return this.size > 0 && !this.broken; }

  /** The chunk file's bytes for little-endian float64 strain `h`. */
  format(h: Buffer, t0: number, dt: number, format: ChunkFormat): Promise<Buffer> {
    const inline = () => Buffer.from(chunkJson(new Float64Array(h.buffer.slice(h.byteOffset, h.byteOffset + h.byteLength) as ArrayBuffer), t0, dt, format), 'latin1');
    if (!this.usable) return Promise.resolve().then(inline);
    return this.post(h, { t0, dt, format }).then((m) => Buffer.from(m.ab!), () => inline());
  }

  /** Formats the chunk file and writes it at `path` (a temp name; its directory is made if missing),
   *  fsync'd when asked. Resolves with its size, or null if it could not be written there (the caller
   *  then formats and writes inline). */
  write(h: Buffer, t0: number, dt: number, format: ChunkFormat, path: string, fsync: boolean): Promise<Prewritten | null> {
    if (!this.usable) return Promise.resolve(null);
    return this.post(h, { t0, dt, format, path, fsync }).then((m) => ({ tmp: path, bytes: m.bytes! }), () => null);
  }

  async close() {
    await Promise.all(this.workers.splice(0).map((s) => s.w.terminate()));
  }
}

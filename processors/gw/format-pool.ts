// Formats chunk files on worker threads, so the float → text work of a batch's chunks runs in parallel
// and off the event loop the gateway shares. Same output as effects.ts chunkJson; any worker failure
// falls back to formatting inline. Workers are unref'd: they never keep a process alive.
import { Worker } from 'node:worker_threads';
import { chunkJson, type ChunkFormat } from './effects.ts';

// plain JS (eval) so the worker needs no TypeScript loader, under tsx and vitest alike
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
parentPort.on('message', ({ id, h, t0, dt, format }) => {
  try {
    const samples = new Float64Array(h.buffer, h.byteOffset, h.byteLength / 8);
    let text;
    if (format === 'json-b64') text = '{"h_b64":"' + Buffer.from(h.buffer, h.byteOffset, h.byteLength).toString('base64') + '","dtype":"float64le","n":' + samples.length + ',"t":' + JSON.stringify([t0, dt]) + '}';
    else text = JSON.stringify({ h: Array.from(samples), t: [t0, dt] });
    const out = Buffer.from(text);
    const ab = out.buffer.slice(out.byteOffset, out.byteOffset + out.byteLength);
    parentPort.postMessage({ id, ab }, [ab]);
  } catch (err) {
    parentPort.postMessage({ id, error: String(err && err.message || err) });
  }
});
`;

interface Pending { resolve: (b: Buffer) => void; reject: (e: Error) => void }

export class FormatPool {
  private workers: { w: Worker; busy: number }[] = [];
  private pending = new Map<number, Pending>();
  private nextId = 0;
  private broken = false;

  constructor(private readonly size: number) {}

  private start() {
    for (let i = 0; i < this.size; i++) {
      const w = new Worker(WORKER_SOURCE, { eval: true });
      w.unref();
      const slot = { w, busy: 0 };
      w.on('message', (m: { id: number; ab?: ArrayBuffer; error?: string }) => {
        slot.busy--;
        const p = this.pending.get(m.id);
        this.pending.delete(m.id);
        if (!p) return;
        if (m.ab) p.resolve(Buffer.from(m.ab));
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

  /** The chunk file's bytes for little-endian float64 strain `h`. */
  format(h: Buffer, t0: number, dt: number, format: ChunkFormat): Promise<Buffer> {
    const copy = () => h.buffer.slice(h.byteOffset, h.byteOffset + h.byteLength) as ArrayBuffer;
    const inline = () => Buffer.from(chunkJson(new Float64Array(copy()), t0, dt, format));
    if (this.size <= 0 || this.broken) return Promise.resolve().then(inline);
    if (!this.workers.length) this.start();
    const slot = this.workers.reduce((a, b) => (b.busy < a.busy ? b : a));
    slot.busy++;
    const id = this.nextId++;
    return new Promise<Buffer>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      const ab = copy();
      slot.w.postMessage({ id, h: new Uint8Array(ab), t0, dt, format }, [ab]);
    }).catch(() => inline());
  }

  async close() {
    await Promise.all(this.workers.splice(0).map((s) => s.w.terminate()));
  }
}

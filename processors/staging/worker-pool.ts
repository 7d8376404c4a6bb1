// A few worker threads running one plain-JS source (evaluated: no TypeScript loader needed, so it runs
// the same under tsx, vitest and the compiled build). Each worker takes one message at a time and
// answers `{ value }` or `{ error, code }`; further calls queue. A busy worker keeps the process alive,
// an idle one does not. A worker that dies fails its call and is replaced.
import { Worker } from 'node:worker_threads';

interface Job { msg: unknown; resolve: (v: any) => void; reject: (err: Error) => void }

export class EvalWorkerPool {
  private idle: Worker[] = [];
  private queue: Job[] = [];
  private started = 0;

  constructor(private readonly source: string, private readonly size: number) {}

  call<T>(msg: unknown): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const job = { msg, resolve, reject };
      const w = this.idle.pop() ?? (this.started < this.size ? this.spawn() : null);
      if (w) this.run(w, job);
      else this.queue.push(job);
    });
  }

  private spawn(): Worker {
    this.started++;
    return new Worker(this.source, { eval: true, execArgv: [] }); // no loader flags: plain JS starts in ms
  }

  private run(w: Worker, job: Job): void {
    const settle = () => { w.off('message', onMessage); w.off('error', onError); };
    const onMessage = (m: { value?: unknown; error?: string; code?: string }) => {
      settle();
      if (m.error === undefined) job.resolve(m.value);
      else job.reject(Object.assign(new Error(m.error), { code: m.code }));
      this.next(w);
    };
    const onError = (err: Error) => {
      settle();
      this.started--;
      job.reject(err);
      const waiting = this.queue.shift();
      if (waiting) this.run(this.spawn(), waiting);
    };
    w.on('message', onMessage);
    w.once('error', onError);
    w.ref();
    w.postMessage(job.msg);
  }

  private next(w: Worker): void {
    const job = this.queue.shift();
    if (job) return this.run(w, job);
    w.unref();
    this.idle.push(w);
  }
}

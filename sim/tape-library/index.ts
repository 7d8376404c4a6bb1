// Tape-library simulator speaking the Scout API the seed used (login, batchstage, cancelbatchstage,
// file, fscache). Files stay offline until staged; staging takes a configurable delay and fails at a
// configurable rate; each staged file is published as one JSON message to the topic given in batchstage;
// release drops files from the disk cache. Options make it lose notifications (a library that drops messages).
// N instances can share one `TapeLibrary` to play the HA nodes of one library.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { Kafka, logLevel, type Producer } from 'kafkajs';

export interface TapeLibraryOptions {
  kafkaBrokers: string[];
  user?: string;
  password?: string;
  /** delay from batchstage to the first file on disk, ms */
  stageDelayMs?: number;
  /** spacing between the files of one batchstage, ms (0: all at once) */
  stageIntervalMs?: number;
  /** fraction of files whose staging fails (0..1) */
  failureRate?: number;
  /** files that never come back from tape (for timeouts) */
  neverStage?: (path: string) => boolean;
  /** files that always fail (deterministic failures for tests) */
  failFile?: (path: string) => boolean;
  /** files kept on tape until releaseHeld() is called (tests that need a job to stay in flight) */
  holdFile?: (path: string) => boolean;
  /** files already on disk cache */
  online?: string[];
  /** messages per Kafka send */
  maxBatch?: number;
  /** files whose notification is lost (staged or failed, but never published): a library that drops messages */
  loseNotification?: (path: string) => boolean;
}

export interface LibraryStats { batchstageCalls: number; cancelCalls: number; staged: number; failed: number; published: number; logins: number; lost: number; released: number }

/** The library's state, shared by every node (Scout endpoint) started on it. */
export class TapeLibrary {
  readonly online = new Set<string>();
  /** files whose last staging failed, with the reason (Scout file status reports it) */
  readonly errors = new Map<string, string>();
  readonly stats: LibraryStats = { batchstageCalls: 0, cancelCalls: 0, staged: 0, failed: 0, published: 0, logins: 0, lost: 0, released: 0 };
  readonly tokens = new Set<string>();
  /** batchstage key → pending timers by path */
  private readonly requests = new Map<string, Map<string, NodeJS.Timeout>>();
  private readonly queue: { topic: string; path: string; error: boolean }[] = [];
  private held: { key: string; path: string; topic: string }[] = [];
  private producer: Producer | null = null;
  private connecting: Promise<void> | null = null;
  private flushing: Promise<void> | null = null;
  private closed = false;
  readonly lastFlush: { at: number; first: number } = { at: 0, first: 0 };

  constructor(readonly opts: TapeLibraryOptions) {
    for (const p of opts.online ?? []) this.online.add(p);
  }

  /** Re-stages nothing already staged or in flight for the same key: batchstage is idempotent on its key. */
  batchStage(paths: string[], key: string, topic: string) {
    this.stats.batchstageCalls++;
    let pending = this.requests.get(key);
    if (!pending) this.requests.set(key, (pending = new Map()));
    const delay = this.opts.stageDelayMs ?? 50;
    const interval = this.opts.stageIntervalMs ?? 0;
    let i = 0;
    const now: string[] = [];
    for (const path of paths) {
      if (pending.has(path)) continue;
      if (this.opts.neverStage?.(path)) { pending.set(path, null as unknown as NodeJS.Timeout); continue; }
      if (this.opts.holdFile?.(path)) { pending.set(path, null as unknown as NodeJS.Timeout); this.held.push({ key, path, topic }); continue; }
      const due = delay + interval * i++;
      if (due === 0) { pending.set(path, null as unknown as NodeJS.Timeout); now.push(path); continue; }
      pending.set(path, setTimeout(() => this.finish(key, path, topic), due));
    }
    if (now.length) setImmediate(() => { for (const p of now) this.finish(key, p, topic); });
  }

  /** Stages every held file now (unless its request was cancelled meanwhile). */
  releaseHeld() {
    const held = this.held;
    this.held = [];
    for (const h of held) if (!this.cancelled.has(`${h.key}\u0000${h.path}`)) this.finish(h.key, h.path, h.topic);
  }

  private readonly cancelled = new Set<string>();

  cancel(paths: string[], key: string) {
    this.stats.cancelCalls++;
    const pending = this.requests.get(key);
    if (!pending) return;
    for (const p of paths.length ? paths : [...pending.keys()]) {
      const t = pending.get(p);
      if (t) clearTimeout(t);
      this.cancelled.add(`${key}\u0000${p}`);
      pending.set(p, null as unknown as NodeJS.Timeout); // stays known: a repeated batchstage does not restart it
    }
  }

  /** Drops files from the disk cache (they stay on tape: offline again); returns how many were online. */
  release(paths: string[]): number {
    let n = 0;
    for (const p of paths) if (this.online.delete(p)) n++;
    this.stats.released += n;
    return n;
  }

  private finish(key: string, path: string, topic: string) {
    if (this.closed) return;
    this.requests.get(key)?.set(path, null as unknown as NodeJS.Timeout);
    const failed = this.opts.failFile?.(path) ?? (Math.random() < (this.opts.failureRate ?? 0));
    if (failed) { this.stats.failed++; this.errors.set(path, 'tape read error'); }
    else { this.stats.staged++; this.online.add(path); this.errors.delete(path); }
    if (this.opts.loseNotification?.(path)) { this.stats.lost++; return; }
    this.queue.push({ topic, path, error: failed });
    this.kick();
  }

  private kick() {
    if (this.flushing) return;
    this.flushing = this.flush().catch(() => { /* retried on the next kick */ }).finally(() => {
      this.flushing = null;
      if (this.queue.length && !this.closed) setTimeout(() => this.kick(), 100);
    });
  }

  private async flush() {
    await this.connect();
    while (this.queue.length && !this.closed) {
      const batch = this.queue.splice(0, this.opts.maxBatch ?? 2000);
      const byTopic = new Map<string, { key: string; value: string }[]>();
      for (const m of batch) {
        const msg = m.error ? { filename: m.path, error: true, message: 'tape read error' } : { filename: m.path };
        const list = byTopic.get(m.topic) ?? [];
        list.push({ key: m.path, value: JSON.stringify(msg) });
        byTopic.set(m.topic, list);
      }
      try {
        await this.producer!.sendBatch({ acks: -1, topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })) });
      } catch (err) {
        this.queue.unshift(...batch);
        throw err;
      }
      this.stats.published += batch.length;
      this.lastFlush.at = Date.now();
      this.lastFlush.first ||= this.lastFlush.at;
    }
  }

  private connect(): Promise<void> {
    if (!this.connecting) {
      const kafka = new Kafka({ clientId: 'tape-library-sim', brokers: this.opts.kafkaBrokers, logLevel: logLevel.NOTHING });
      this.producer = kafka.producer({ allowAutoTopicCreation: true });
      this.connecting = this.producer.connect();
      this.connecting.catch(() => { this.connecting = null; });
    }
    return this.connecting;
  }

  /** Resolves when every staged file so far has been published. */
  async drained(): Promise<void> {
    while (this.queue.length || this.flushing) await (this.flushing ?? new Promise((r) => setTimeout(r, 10)));
  }

  async close() {
    this.closed = true;
    for (const m of this.requests.values()) for (const t of m.values()) if (t) clearTimeout(t);
    await this.flushing?.catch(() => {});
    if (this.connecting) await this.producer!.disconnect().catch(() => {});
  }
}

export interface TapeLibrarySim {
  url: string;
  library: TapeLibrary;
  /** Makes this node answer 503 (true) or work again (false) without closing its port. */
  setFailing(failing: boolean): void;
  /** Forgets every issued token, so clients must log in again (Scout answers 401). */
  expireTokens(): void;
  /** The next `n` batchstage calls are applied but never answered (a crash mid-call, seen from the client). */
  swallowBatchstage(n: number): void;
  stop(): Promise<void>;
}

async function readJson(req: IncomingMessage): Promise<any> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  return text ? JSON.parse(text) : {};
}

function send(res: ServerResponse, status: number, body: unknown) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

/** Starts one Scout node; pass `library` to share the state of another node (HA). */
export async function startTapeLibrarySim(opts: TapeLibraryOptions & { port?: number; host?: string; library?: TapeLibrary }): Promise<TapeLibrarySim> {
  const library = opts.library ?? new TapeLibrary(opts);
  const owned = !opts.library;
  const user = opts.user ?? 'dbb';
  const password = opts.password ?? 'dbb';
  let failing = false;
  let swallow = 0;

  const server = createServer(async (req, res) => {
    try {
      if (failing) return send(res, 503, { error: 'node unavailable' });
      const url = new URL(req.url ?? '/', 'http://sim');
      if (req.method === 'POST' && url.pathname === '/v1/security/login') {
        const body = await readJson(req);
        if (body.acct !== user || body.pass !== password) return send(res, 401, { error: 'bad credentials' });
        const token = randomUUID();
        library.tokens.add(token);
        library.stats.logins++;
        return send(res, 200, { response: token });
      }
      const token = (req.headers.authorization ?? '').replace(/^Bearer /, '');
      if (!library.tokens.has(token)) return send(res, 401, { error: 'token expired or missing' });
      if (req.method === 'PUT' && (url.pathname === '/v1/request/batchstage' || url.pathname === '/v1/request/cancelbatchstage')) {
        const body = await readJson(req);
        if (!Array.isArray(body.path) || typeof body.key !== 'string' && typeof body.key !== 'number') return send(res, 400, { error: 'path[] and key required' });
        if (url.pathname.endsWith('/batchstage')) {
          if (typeof body.topic !== 'string' || !body.topic) return send(res, 400, { error: 'topic required' });
          library.batchStage(body.path.map(String), String(body.key), body.topic);
          if (swallow > 0) { swallow--; return; }
        } else {
          library.cancel(body.path.map(String), String(body.key));
        }
        return send(res, 200, { response: 'OK', key: String(body.key), count: body.path.length });
      }
      if (req.method === 'PUT' && url.pathname === '/v1/request/release') {
        const body = await readJson(req);
        if (!Array.isArray(body.path)) return send(res, 400, { error: 'path[] required' });
        return send(res, 200, { response: 'OK', count: body.path.length, released: library.release(body.path.map(String)) });
      }
      if (req.method === 'GET' && url.pathname === '/v1/file') {
        const path = url.searchParams.get('path') ?? '';
        const online = library.online.has(path);
        const error = library.errors.get(path);
        return send(res, 200, { path, size: 1024, online, onlineblocks: online ? 1 : 0, offlineblocks: online ? 0 : 1, ...(error ? { error } : {}) });
      }
      if (req.method === 'GET' && url.pathname === '/v1/fscache') {
        const used = library.online.size;
        return send(res, 200, { capacity: 1_000_000, used, available: 1_000_000 - used, health: 'OK', highwater: 90, lowwater: 80 });
      }
      return send(res, 404, { error: 'not found' });
    } catch (err) {
      return send(res, 500, { error: (err as Error).message });
    }
  });
  await new Promise<void>((r) => server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    library,
    setFailing: (f) => { failing = f; },
    expireTokens: () => library.tokens.clear(),
    swallowBatchstage: (n) => { swallow = n; },
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      if (owned) await library.close();
    },
  };
}

// Test harness of the tape domain: a private stack with the tape processor + projection, N Scout nodes
// of one simulated tape library, the data-files simulator, the notification adapter and a callback
// receiver (an HTTP server recording every POST, failing the first `failFirst` or every one).
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { inject } from 'vitest';
import { startTestStack, type TestStack } from '../support/stack.ts';
import type { Env } from '../../platform/config.ts';
import { createTapeProcessor } from '../../processors/tape/index.ts';
import { createTapeProjection } from '../../projections/tape/index.ts';
import { startTapeNotifications, type TapeNotifications } from '../../producers/tape-notifications/index.ts';
import { startTapeLibrarySim, TapeLibrary, type TapeLibraryOptions, type TapeLibrarySim } from '../../sim/tape-library/index.ts';
import { startDataFilesSim, type DataFilesSim } from '../../sim/data-files/index.ts';

export interface Received { headers: IncomingHttpHeaders; body: any; status: number; path: string }

export interface CallbackReceiver {
  url: string;
  received: Received[];
  /** POSTs answered 2xx (status 0: held, never answered) */
  delivered(): Received[];
  failFirst: number;
  failAlways: boolean;
  /** requests to hold without ever answering (a receiver hanging mid-delivery) */
  hang: number;
  stop(): Promise<void>;
}

export async function startCallbackReceiver(): Promise<CallbackReceiver> {
  const r: CallbackReceiver = {
    url: '', received: [], failFirst: 0, failAlways: false, hang: 0,
    delivered: () => r.received.filter((x) => x.status >= 200 && x.status < 300),
    stop: async () => { server.closeAllConnections(); await new Promise<void>((ok) => server.close(() => ok())); },
  };
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    let body: any = null;
    try { body = JSON.parse(Buffer.concat(chunks).toString('utf8')); } catch { /* recorded as null */ }
    if (r.hang > 0) {
      r.hang--;
      r.received.push({ headers: req.headers, body, status: 0, path: req.url ?? '' });
      return;
    }
    const fail = r.failAlways || r.failFirst > 0;
    if (r.failFirst > 0) r.failFirst--;
    const status = fail ? 500 : 200;
    r.received.push({ headers: req.headers, body, status, path: req.url ?? '' });
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end('{}');
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  r.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return r;
}

export interface TapeHarness {
  stack: TestStack;
  nodes: TapeLibrarySim[];
  library: TapeLibrary;
  dataFiles: DataFilesSim;
  adapter: TapeNotifications;
  receiver: CallbackReceiver;
  stop(): Promise<void>;
}

/** On the shared machine a stack start sometimes fails for reasons outside the test: the leader wait of
 *  fresh topics (UNKNOWN_TOPIC_OR_PARTITION) or Postgres out of connections (docs/requests/tape.md). */
async function withRetries<T>(fn: () => Promise<T>, attempts = 3): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (err) {
      if (i >= attempts || !/does not host this topic-partition|leader|too many clients/i.test(String((err as Error).message))) throw err;
      await new Promise((r) => setTimeout(r, 1000 * i));
    }
  }
}

export const CALLBACK_AUTH = { user: 'cb-user', password: 'cb-secret' };

export async function startTapeHarness(opts: {
  nodes?: number; library?: Partial<TapeLibraryOptions>; env?: Env; observations?: Record<number, string[]>;
  /** false: run no processor here (the test runs it in a child process) */
  processor?: boolean;
  /** false: no periodic tick; the test calls adapter.tick() */
  ticker?: boolean;
} = {}): Promise<TapeHarness> {
  const { brokers } = inject('stack');
  const library = new TapeLibrary({ kafkaBrokers: brokers, stageDelayMs: 20, ...opts.library });
  const nodes = await Promise.all(Array.from({ length: opts.nodes ?? 1 }, () => startTapeLibrarySim({ kafkaBrokers: brokers, library })));
  const dataFiles = await startDataFilesSim({ observations: opts.observations });
  const receiver = await startCallbackReceiver();
  const env: Env = {
    TAPE_SCOUT_URLS: nodes.map((n) => n.url).join(','),
    TAPE_DATA_FILES_URL: dataFiles.url,
    TAPE_CALLBACK_USER: CALLBACK_AUTH.user,
    TAPE_CALLBACK_PASSWORD: CALLBACK_AUTH.password,
    TAPE_CALLBACK_BACKOFF_MS: '100',
    TAPE_SCOUT_BACKOFF_MS: '50',
    TAPE_TICK_MS: '300',
    DBB_REPLY_TIMEOUT_MS: '30000', // DELETE /staging waits for TapeJobCancelled; the shared CI machine can be slow
    ...opts.env,
  };
  const stack = await withRetries(() => startTestStack({
    env,
    consumers: (deps) => [...(opts.processor === false ? [] : [createTapeProcessor(deps)]), createTapeProjection(deps)],
  }));
  const p = stack.platform;
  const adapter = await withRetries(() => startTapeNotifications({ config: p.config, env: p.env, kafka: p.kafka, producer: p.producer, appender: p.appender, log: p.log }, { ticker: opts.ticker }));
  return {
    stack, nodes, library, dataFiles, adapter, receiver,
    async stop() {
      await adapter.stop().catch(() => {});
      await stack.stop();
      await Promise.all(nodes.map((n) => n.stop().catch(() => {})));
      await library.close();
      await dataFiles.stop();
      await receiver.stop();
    },
  };
}

export const files = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `/mwa/${prefix}/${prefix}_${String(i).padStart(4, '0')}.fits`);

// Whole-file reads of a local_copy on worker threads: the SHA-256 of the copy, and the copy compared
// byte for byte with its source. OpenSSL hashes 1.3–2 GB/s per core on this machine; on the
// processor's own thread a 1 GiB copy would stall every other request for most of a second, and a
// compare through the libuv threadpool costs two hand-offs per chunk. The workers read the caller's
// fds (threads share the fd table), so the files stay the ones opened link-safely; the caller keeps
// them open until the promise settles.
import { availableParallelism } from 'node:os';
import type { FileHandle } from 'node:fs/promises';
import { EvalWorkerPool } from './worker-pool.ts';

const WORKER = `
const { parentPort } = require('node:worker_threads');
const { readSync } = require('node:fs');
const { createHash } = require('node:crypto');
const CHUNK = 4 << 20;
const a = Buffer.allocUnsafe(CHUNK);
const b = Buffer.allocUnsafe(CHUNK);
function sha256(fd) {
  const hash = createHash('sha256');
  for (let pos = 0, n; (n = readSync(fd, a, 0, CHUNK, pos)) > 0; pos += n) hash.update(a.subarray(0, n));
  return hash.digest('hex');
}
function same(fa, fb) {
  for (let pos = 0; ;) {
    const n = readSync(fa, a, 0, CHUNK, pos);
    const m = readSync(fb, b, 0, n || CHUNK, pos); // at the end of fa: any byte left in fb differs
    if (n !== m) return false;
    if (n === 0) return true;
    if (a.compare(b, 0, m, 0, n) !== 0) return false;
    pos += n;
  }
}
parentPort.on('message', (m) => {
  try {
    parentPort.postMessage({ value: m.op === 'sha256' ? sha256(m.fd) : same(m.a, m.b) });
  } catch (err) {
    parentPort.postMessage({ error: err.message, code: err.code });
  }
});`;

const pool = new EvalWorkerPool(WORKER, Math.min(4, availableParallelism()));

/** Hex SHA-256 of a whole open file, read from offset 0 on a worker thread. */
export const sha256Of = (fh: FileHandle): Promise<string> => pool.call<string>({ op: 'sha256', fd: fh.fd });

/** Whether two open files hold the same bytes (same length), read from offset 0 on a worker thread. */
export const sameBytes = (x: FileHandle, y: FileHandle): Promise<boolean> => pool.call<boolean>({ op: 'same', a: x.fd, b: y.fd });

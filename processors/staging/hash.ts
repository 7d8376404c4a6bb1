// SHA-256 of an open file on worker threads. OpenSSL hashes 1.3–2 GB/s per core on this machine: on the
// processor's own thread, a 1 GiB local_copy would stall every other request for most of a second.
// The worker reads the caller's fd (threads share the fd table), so the file stays the one opened
// link-safely; the caller keeps it open until the promise settles.
import { availableParallelism } from 'node:os';
import type { FileHandle } from 'node:fs/promises';
import { EvalWorkerPool } from './worker-pool.ts';

const WORKER = `
const { parentPort } = require('node:worker_threads');
const { readSync } = require('node:fs');
const { createHash } = require('node:crypto');
const buf = Buffer.allocUnsafe(4 << 20);
parentPort.on('message', (fd) => {
  try {
    const hash = createHash('sha256');
    for (let pos = 0, n; (n = readSync(fd, buf, 0, buf.length, pos)) > 0; pos += n) hash.update(buf.subarray(0, n));
    parentPort.postMessage({ value: hash.digest('hex') });
  } catch (err) {
    parentPort.postMessage({ error: err.message, code: err.code });
  }
});`;

const pool = new EvalWorkerPool(WORKER, Math.min(4, availableParallelism()));

/** Hex SHA-256 of a whole open file, read from offset 0 on a worker thread. */
export const sha256Of = (fh: FileHandle): Promise<string> => pool.call<string>(fh.fd);

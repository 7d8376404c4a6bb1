// Process plumbing for the native stack: a stale-safe lock file, pid files, detached spawns whose
// output goes to a log file, liveness checks and polling until something is ready.
import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export function isAlive(pid: number | null | undefined): boolean {
  if (!pid || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    // a zombie (exited, not yet reaped) counts as dead
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return true;
  }
}

/** The command line of a process (empty if unknown). */
export function cmdlineOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return '';
  }
}

export function readPid(file: string): number | null {
  try {
    const n = Number(readFileSync(file, 'utf8').trim());
    return Number.isInteger(n) && n > 0 ? n : null;
  } catch {
    return null;
  }
}

export function writePid(file: string, pid: number): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${pid}\n`);
}

export function removeFile(file: string): void {
  try {
    unlinkSync(file);
  } catch {}
}

const held = new Map<string, Promise<void>>(); // same-process callers queue here

/**
 * Runs `fn` holding an exclusive lock file (O_EXCL, content = holder pid). A lock whose holder
 * process is gone is stale and taken over. Waits up to `timeoutMs` for another holder.
 */
export async function withLock<T>(file: string, fn: () => Promise<T>, opts: { timeoutMs?: number; onWait?: (holder: number | null) => void } = {}): Promise<T> {
  while (held.has(file)) await held.get(file)!.catch(() => {});
  let release!: () => void;
  held.set(file, new Promise<void>((r) => (release = r)));
  try {
    mkdirSync(dirname(file), { recursive: true });
    const deadline = Date.now() + (opts.timeoutMs ?? 15 * 60_000);
    let told = false;
    for (;;) {
      try {
        const fd = openSync(file, 'wx');
        writeSync(fd, `${process.pid}\n`);
        closeSync(fd);
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        const holder = readPid(file);
        // a lock file without a pid yet is being written; give it a moment before calling it stale
        const young = (() => { try { return Date.now() - statSync(file).mtimeMs < 2000; } catch { return false; } })();
        if ((holder === null && !young) || (holder !== null && !isAlive(holder))) {
          removeFile(file);
          continue;
        }
        if (Date.now() > deadline) throw new Error(`timed out waiting for lock ${file} (held by pid ${holder})`);
        if (!told) { opts.onWait?.(holder); told = true; }
        await sleep(250);
      }
    }
    try {
      return await fn();
    } finally {
      if (readPid(file) === process.pid) removeFile(file);
    }
  } finally {
    held.delete(file);
    release();
  }
}

/** Starts a process that outlives its parent; stdout+stderr go to `logFile` (previous run kept as .1). */
export function spawnDetached(cmd: string, args: string[], opts: { logFile: string; cwd?: string; env?: NodeJS.ProcessEnv }): number {
  mkdirSync(dirname(opts.logFile), { recursive: true });
  if (existsSync(opts.logFile)) {
    try { renameSync(opts.logFile, `${opts.logFile}.1`); } catch {}
  }
  const out = openSync(opts.logFile, 'a');
  try {
    const child = spawn(cmd, args, { detached: true, stdio: ['ignore', out, out], cwd: opts.cwd, env: opts.env ?? process.env });
    if (!child.pid) throw new Error(`could not start ${cmd}`);
    child.on('error', () => {});
    child.unref();
    return child.pid;
  } finally {
    closeSync(out);
  }
}

export function tailOf(file: string, lines = 40): string {
  try {
    const text = readFileSync(file, 'utf8');
    return text.split('\n').slice(-lines - 1).join('\n').trimEnd();
  } catch {
    return '(no log)';
  }
}

/** Polls `probe` until it returns true; fails early if `pid` dies. */
export async function waitUntil(what: string, probe: () => Promise<boolean>, opts: { timeoutMs: number; pid?: number; logFile?: string; intervalMs?: number }): Promise<void> {
  const deadline = Date.now() + opts.timeoutMs;
  for (;;) {
    if (await probe().catch(() => false)) return;
    const died = opts.pid !== undefined && !isAlive(opts.pid);
    if (died || Date.now() > deadline) {
      const why = died ? `process ${opts.pid} exited` : `not ready after ${Math.round(opts.timeoutMs / 1000)} s`;
      const log = opts.logFile ? `\n--- last lines of ${opts.logFile} ---\n${tailOf(opts.logFile)}` : '';
      throw new Error(`${what}: ${why}${log}`);
    }
    await sleep(opts.intervalMs ?? 250);
  }
}

/** SIGTERM, then SIGKILL after `graceMs`. Resolves when the process is gone. */
export async function terminate(pid: number, graceMs = 30_000): Promise<void> {
  if (!isAlive(pid)) return;
  try { process.kill(pid, 'SIGTERM'); } catch {}
  const deadline = Date.now() + graceMs;
  while (isAlive(pid) && Date.now() < deadline) await sleep(100);
  if (isAlive(pid)) {
    try { process.kill(pid, 'SIGKILL'); } catch {}
    while (isAlive(pid)) await sleep(50);
  }
}

export const pidFile = (stateDir: string, name: string) => join(stateDir, 'run', `${name}.pid`);
export const logFile = (stateDir: string, name: string) => join(stateDir, 'logs', `${name}.log`);

/** True when something accepts TCP connections on host:port. */
export function portOpen(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect({ host, port });
    const done = (ok: boolean) => { sock.destroy(); resolve(ok); };
    sock.setTimeout(timeoutMs, () => done(false));
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
  });
}

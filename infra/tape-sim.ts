// The dev tape-library simulator as a detached process with a pid and owner file in <stateDir>/run, like
// Kafka and the registry: Ctrl-C of `dbb up` and `dbb down` stop it, a SIGKILL of `dbb up` leaves it
// running (a real library does not die with us), and the next `dbb up` reuses it.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { INFRA_DIR } from './maven.ts';
import { cmdlineOf, isAlive, logFile, pidFile, portOpen, readPid, removeFile, spawnDetached, terminate, waitUntil, writePid } from './proc.ts';

const NAME = 'tape-sim';
const REPO_ROOT = join(INFRA_DIR, '..');
const MARKER = 'tape-library/main.';
const ownerFile = (stateDir: string) => join(stateDir, 'run', `${NAME}.owner`);
const urlFile = (stateDir: string) => join(stateDir, 'run', `${NAME}.url`);

function ourPid(stateDir: string): number | null {
  const pid = readPid(pidFile(stateDir, NAME));
  if (pid === null) return null;
  if (!isAlive(pid) || !cmdlineOf(pid).includes(MARKER)) { removeFile(pidFile(stateDir, NAME)); return null; }
  return pid;
}

/** Starts the simulator on 127.0.0.1:port unless ours already runs; returns its URL and whether this call started it. */
export async function ensureTapeSim(opts: { stateDir: string; port: number; kafkaBrokers: string[]; by: string; env?: NodeJS.ProcessEnv; log?: (m: string) => void }): Promise<{ url: string; started: boolean; pid: number }> {
  const url = `http://127.0.0.1:${opts.port}`;
  const running = ourPid(opts.stateDir);
  if (running && await portOpen('127.0.0.1', opts.port)) return { url, started: false, pid: running };
  if (!running && await portOpen('127.0.0.1', opts.port)) throw new Error(`port ${opts.port} is taken by another process; set DBB_TAPE_SIM_PORT or TAPE_SCOUT_URLS`);
  const compiled = join(REPO_ROOT, 'sim', 'tape-library', 'main.js'); // running from dist/
  const args = existsSync(compiled) ? [compiled]
    : ['--import', pathToFileURL(createRequire(join(REPO_ROOT, 'package.json')).resolve('tsx')).href, join(REPO_ROOT, 'sim', 'tape-library', 'main.ts')];
  const file = logFile(opts.stateDir, NAME);
  const pid = running ?? spawnDetached(process.execPath, args, {
    logFile: file, cwd: REPO_ROOT,
    env: { ...process.env, ...opts.env, TAPE_SIM_PORT: String(opts.port), KAFKA_BROKERS: opts.kafkaBrokers.join(','), NODE_OPTIONS: '' },
  });
  writePid(pidFile(opts.stateDir, NAME), pid);
  writeFileSync(ownerFile(opts.stateDir), `${opts.by} at ${new Date().toISOString()}\n`);
  writeFileSync(urlFile(opts.stateDir), `${url}\n`);
  opts.log?.(`tape library simulator: started pid ${pid} on ${url} (log ${file})`);
  await waitUntil('tape library simulator did not come up', () => portOpen('127.0.0.1', opts.port), { timeoutMs: 60_000, pid, logFile: file });
  return { url, started: true, pid };
}

/** Stops our simulator (by pid file); returns whether one was running. */
export async function stopTapeSim(stateDir: string, log?: (m: string) => void): Promise<boolean> {
  const pid = ourPid(stateDir);
  if (!pid) return false;
  log?.(`${NAME}: stopping pid ${pid}`);
  await terminate(pid, 10_000);
  removeFile(pidFile(stateDir, NAME));
  removeFile(ownerFile(stateDir));
  removeFile(urlFile(stateDir));
  return true;
}

/** The running simulator (pid, URL, who started it), or null when ours is not running. */
export async function tapeSimStatus(stateDir: string): Promise<{ pid: number; url: string | null; up: boolean; startedBy: string | null } | null> {
  const pid = ourPid(stateDir);
  if (!pid) return null;
  const read = (f: string) => { try { return readFileSync(f, 'utf8').trim(); } catch { return null; } };
  const url = read(urlFile(stateDir));
  const port = url ? Number(new URL(url).port) : NaN;
  return { pid, url, up: Number.isFinite(port) && await portOpen('127.0.0.1', port), startedBy: read(ownerFile(stateDir)) };
}

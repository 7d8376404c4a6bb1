// Runs consumers in a child process so tests can SIGKILL them for real. The child loads
// `factory` from `module` (a path relative to the repo root), calls it with the domain deps and
// runs every spec it returns on the given env (a test stack's env), then prints "ready".
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import type { Env } from '../../platform/config.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const SCRIPT = join(ROOT, 'test', 'support', 'consumer-child.ts');

export interface ConsumerProcess { child: ChildProcess; ready: Promise<void>; exited: Promise<number | null>; output(): string }

export function spawnConsumers(env: Env, module: string, factory: string): ConsumerProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', SCRIPT, module, factory], {
    cwd: ROOT, env: env as NodeJS.ProcessEnv, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const ready = new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (b: Buffer) => { out += b.toString(); if (out.includes('\nready\n') || out.startsWith('ready\n')) resolve(); });
    child.stderr!.on('data', (b: Buffer) => { out += b.toString(); });
    child.once('exit', (code) => reject(new Error(`consumer process exited (${code}) before ready:\n${out.slice(-4000)}`)));
  });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return { child, ready, exited, output: () => out };
}

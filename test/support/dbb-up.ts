// `dbb up` as a new user runs it, with nothing of its own yet: a fresh state directory, database,
// namespace and port; the suite's Kafka and registry. Used by system.fresh (sources through tsx) and
// build.smoke (the compiled dist/cli/dbb.js). stopDbbUp sends SIGINT and removes what the run created.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';
import { deleteNamespace } from '../../platform/namespace.ts';

export const BASE_DB = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const withDb = (name: string) => { const u = new URL(BASE_DB); u.pathname = `/${name}`; return u.toString(); };

export async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

export interface Running { proc: ChildProcess; url: string; token: string; stateDir: string; databaseUrl: string; namespace: string; output: () => string }

/** Starts `node <args> up` (default: the sources through tsx) and waits for "Ctrl-C stops". */
export async function dbbUp(extra: Record<string, string> = {}, opts: { args?: string[]; started?: Running[]; again?: Running } = {}): Promise<Running> {
  const id = randomBytes(3).toString('hex');
  // `again`: the same state directory, database, namespace and port as an earlier run (a restart)
  const stateDir = opts.again?.stateDir ?? mkdtempSync(join(tmpdir(), 'dbb-fresh-'));
  const databaseUrl = opts.again?.databaseUrl ?? withDb(`dbb_fresh_${id}`);
  const namespace = opts.again?.namespace ?? `f${id}.`;
  const port = opts.again ? Number(new URL(opts.again.url).port) : await freePort();
  const stack = inject('stack');
  const env = {
    ...process.env,
    DBB_STATE_DIR: stateDir, DATABASE_URL: databaseUrl, DBB_PORT: String(port), DBB_NAMESPACE: namespace,
    KAFKA_BROKERS: stack.brokers.join(','), SCHEMA_REGISTRY_URL: stack.registryUrl,
    // the tape simulators would take the dev ports 8091/8092, which a developer's own `npm start` may hold
    TAPE_SCOUT_URLS: 'http://127.0.0.1:9', TAPE_DATA_FILES_URL: 'http://127.0.0.1:9',
    DBB_TOKENS: '', DBB_PG_POOL: '4', LOG_LEVEL: 'warn', ...extra,
  };
  const proc = spawn(process.execPath, [...(opts.args ?? ['--import', 'tsx', 'cli/dbb.ts']), 'up'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (d) => { out += d; });
  proc.stderr!.on('data', (d) => { out += d; });
  const running: Running = { proc, url: '', token: '', stateDir, databaseUrl, namespace, output: () => out };
  opts.started?.push(running);
  const deadline = Date.now() + 150_000;
  while (!/Ctrl-C stops/.test(out)) {
    if (proc.exitCode !== null) throw new Error(`dbb up exited with ${proc.exitCode}:\n${out}`);
    if (Date.now() > deadline) throw new Error(`dbb up did not come up:\n${out}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  running.url = /gateway\s+(http:\/\/\S+)/.exec(out)![1]!;
  running.token = /dev token (\S+)/.exec(out)![1]!;
  return running;
}

/** SIGINT, then drop the run's topics, subjects, database and state directory. */
export async function stopDbbUp(r: Running) {
  if (r.proc.exitCode === null) {
    const exited = new Promise((res) => r.proc.once('exit', res));
    r.proc.kill('SIGINT');
    await exited;
  }
  await deleteNamespace({ namespace: r.namespace, registryUrl: inject('stack').registryUrl, kafkaBrokers: inject('stack').brokers }).catch(() => {});
  const admin = new pg.Client({ connectionString: BASE_DB });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS "${new URL(r.databaseUrl).pathname.slice(1)}" WITH (FORCE)`).catch(() => {});
  await admin.end();
  rmSync(r.stateDir, { recursive: true, force: true });
}

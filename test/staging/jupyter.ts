// Test helper: a real Jupyter Server (Debian's python3-jupyter-server, installed by infra/setup.sh test)
// on a free port with a token and its own root dir; `stop()` kills it. Also builds the shell command
// the staging processor runs to start a server itself (STAGING_JUPYTER_START_COMMAND).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, existsSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { basename, join } from 'node:path';

export interface JupyterServer { url: string; token: string; rootDir: string; stop(): Promise<void>; log(): string }

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/** argv of a Jupyter Server; 1.x (Debian 12) takes ServerApp.token, 2.x IdentityProvider.token: pass both. */
export function jupyterArgs(port: number, token: string, rootDir: string): string[] {
  return [
    '-m', 'jupyter_server', '--no-browser', '--allow-root', `--port=${port}`, '--ip=127.0.0.1', '--ServerApp.port_retries=0',
    `--ServerApp.token=${token}`, `--IdentityProvider.token=${token}`, `--ServerApp.root_dir=${rootDir}`,
  ];
}

export async function waitUp(url: string, token: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const res = await fetch(`${url}/api/status`, { headers: { Authorization: `token ${token}` } });
      if (res.ok) return;
    } catch { /* not up yet */ }
    if (Date.now() > deadline) throw new Error(`Jupyter at ${url} did not come up`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

function runtimeEnv(rootDir: string): NodeJS.ProcessEnv {
  const rt = join(rootDir, '..', `.jupyter-runtime-${process.pid}`);
  return { ...process.env, JUPYTER_RUNTIME_DIR: rt, JUPYTER_DATA_DIR: rt, JUPYTER_CONFIG_DIR: rt, HOME: process.env.HOME };
}

/** `config`: the text of a jupyter_server_config.py for this server (e.g. a pre_save_hook). */
export async function startJupyter(rootDir: string, token = 'staging-test-token', config?: string): Promise<JupyterServer> {
  mkdirSync(rootDir, { recursive: true });
  const env = runtimeEnv(rootDir);
  if (config !== undefined) {
    const dir = join(rootDir, '..', `.jupyter-config-${process.pid}-${basename(rootDir)}`);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'jupyter_server_config.py'), config);
    env.JUPYTER_CONFIG_DIR = dir;
  }
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    const child: ChildProcess = spawn('/usr/bin/python3', jupyterArgs(port, token, rootDir), { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout!.on('data', (b) => { out += b; });
    child.stderr!.on('data', (b) => { out += b; });
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    const url = `http://127.0.0.1:${port}`;
    try {
      await Promise.race([waitUp(url, token), exited.then(() => { throw new Error(`jupyter exited: ${out.slice(-2000)}`); })]);
    } catch (err) {
      child.kill('SIGKILL');
      if (attempt < 2) continue;
      throw err;
    }
    return {
      url, token, rootDir, log: () => out,
      async stop() {
        if (child.exitCode !== null) return;
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 5_000);
        await exited;
        clearTimeout(t);
      },
    };
  }
}

/** A start command for the processor: launches the server detached and records its pid in `pidFile`. */
export function startCommand(port: number, token: string, rootDir: string, pidFile: string): string {
  const q = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;
  const rt = join(rootDir, '..', '.jupyter-runtime-started');
  return `mkdir -p ${q(rootDir)}; JUPYTER_RUNTIME_DIR=${q(rt)} JUPYTER_DATA_DIR=${q(rt)} JUPYTER_CONFIG_DIR=${q(rt)} nohup /usr/bin/python3 ${jupyterArgs(port, token, rootDir).map(q).join(' ')} >/dev/null 2>&1 & echo $! > ${q(pidFile)}`;
}

export function killPidFile(pidFile: string): void {
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  if (pid > 0) { try { process.kill(pid, 'SIGKILL'); } catch { /* already gone */ } }
}

/** Reads a file back through the contents API. */
export async function readContents(url: string, token: string, path: string): Promise<Buffer> {
  const res = await fetch(`${url}/api/contents/${path.split('/').map(encodeURIComponent).join('/')}?content=1&format=base64&type=file`, { headers: { Authorization: `token ${token}` } });
  if (!res.ok) throw new Error(`GET ${path}: ${res.status} ${await res.text()}`);
  return Buffer.from(((await res.json()) as { content: string }).content, 'base64');
}

// Command plugin: runs a configured external command per file (how sites wire in their own ingest
// tools, e.g. a Butler CLI), with a timeout. Exit code 0 = SUCCESS; anything else = FAILURE with the
// tail of stderr. Placeholders in args: {path} {relPath} {fileId} {checksum} {attempt}.
import { spawn } from 'node:child_process';
import { Type, type Static } from '@sinclair/typebox';
import { checkPluginConfig } from './check.ts';
import type { IngestFile, IngestPlugin, IngestResult } from './types.ts';

export const CommandConfig = Type.Object({
  command: Type.String({ minLength: 1 }),
  args: Type.Array(Type.String(), { default: ['{path}'] }),
  timeoutMs: Type.Integer({ minimum: 1, default: 600_000, description: 'ms before the command is killed (SIGKILL to its process group)' }),
  cwd: Type.Optional(Type.String()),
  env: Type.Record(Type.String(), Type.String(), { default: {} }),
}, { additionalProperties: false });
export type CommandConfig = Static<typeof CommandConfig>;

const TAIL = 2000; // chars of stderr kept in the error

export const expand = (arg: string, f: IngestFile) =>
  arg.replace(/\{(path|relPath|fileId|checksum|attempt)\}/g, (_, k: keyof IngestFile) => String(f[k]));

export function createCommandPlugin(rawConfig: unknown): IngestPlugin {
  const cfg = checkPluginConfig('Command', CommandConfig, rawConfig);
  return {
    name: 'Command',
    ingest(file): Promise<IngestResult> {
      return new Promise((resolve) => {
        const child = spawn(cfg.command, cfg.args.map((a) => expand(a, file)), {
          cwd: cfg.cwd, env: { ...process.env, ...cfg.env, DBB_INGEST_FILE: file.path, DBB_INGEST_FILE_ID: file.fileId },
          stdio: ['ignore', 'pipe', 'pipe'], detached: true, // own process group, so a timeout kills its children too
        });
        let stdout = '';
        let stderr = '';
        let timedOut = false;
        child.stdout.on('data', (d: Buffer) => { stdout = (stdout + d.toString()).slice(-TAIL); });
        child.stderr.on('data', (d: Buffer) => { stderr = (stderr + d.toString()).slice(-TAIL); });
        const timer = setTimeout(() => {
          timedOut = true;
          try { process.kill(-child.pid!, 'SIGKILL'); } catch { child.kill('SIGKILL'); }
        }, cfg.timeoutMs);
        child.on('error', (err) => {
          clearTimeout(timer);
          resolve({ status: 'FAILURE', error: `cannot run ${cfg.command}: ${err.message}` });
        });
        child.on('exit', (code, signal) => {
          clearTimeout(timer);
          const details = { command: cfg.command, exitCode: code, stdout: stdout.trim().slice(-500) };
          if (timedOut) resolve({ status: 'FAILURE', error: `${cfg.command} timed out after ${cfg.timeoutMs} ms and was killed`, details });
          else if (code === 0) resolve({ status: 'SUCCESS', details });
          else resolve({ status: 'FAILURE', error: `${cfg.command} exited with ${signal ? `signal ${signal}` : `code ${code}`}: ${stderr.trim() || '(no stderr)'}`, details });
        });
      });
    },
  };
}

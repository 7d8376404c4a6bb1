// pino JSON logs; secrets are redacted by path so tokens, passwords and auth headers never reach a log line.
import pino, { type Logger } from 'pino';

export const REDACT_PATHS = [
  'token', '*.token', 'password', '*.password', 'pass', '*.pass', 'secret', '*.secret',
  'authorization', '*.authorization', 'req.headers.authorization', 'req.headers.cookie',
  'headers.authorization', 'databaseUrl', '*.databaseUrl', 'config.tokens',
];

export function createLogger(opts: { level?: string; name?: string } = {}): Logger {
  return pino({
    name: opts.name ?? 'dbb',
    level: opts.level ?? process.env.LOG_LEVEL ?? 'info',
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
  });
}

/** postgres://user:pass@host/db → postgres://user:***@host/db, for messages. */
export function safeUrl(url: string): string {
  return url.replace(/\/\/([^:/@]+):[^@]*@/, '//$1:***@');
}

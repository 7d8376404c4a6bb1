// pino JSON logs; secrets are redacted by path so tokens, passwords and auth headers never reach a log line.
import pino, { type Logger } from 'pino';

export const REDACT_PATHS = [
  'token', '*.token', 'password', '*.password', 'pass', '*.pass', 'secret', '*.secret',
  'authorization', '*.authorization', 'req.headers.authorization', 'req.headers.cookie',
  'headers.authorization', 'databaseUrl', '*.databaseUrl', 'config.tokens',
];

/** Query parameters whose values never reach a log line (e.g. the seeds' `?jupyter_token=`). */
const SECRET_PARAM = /^(.*token|.*password|pass|secret|.*key|auth.*|signature)$/i;

export function maskUrl(url: string): string {
  const q = url.indexOf('?');
  if (q < 0) return url;
  const params = new URLSearchParams(url.slice(q + 1));
  for (const k of [...params.keys()]) if (SECRET_PARAM.test(k)) params.set(k, '[redacted]');
  return `${url.slice(0, q)}?${params.toString()}`;
}

/** The request serializer of the gateway's logs: the URL with secret query values masked. */
export function serializeRequest(req: { method?: string; url?: string; host?: string; hostname?: string; ip?: string; socket?: { remoteAddress?: string } }) {
  return { method: req.method, url: maskUrl(req.url ?? ''), host: req.host ?? req.hostname, remoteAddress: req.ip ?? req.socket?.remoteAddress };
}

/** A service logs to stdout; a one-shot command keeps stdout for its answer (`to: 'stderr'`). */
export function createLogger(opts: { level?: string; name?: string; to?: 'stdout' | 'stderr' } = {}): Logger {
  return pino({
    name: opts.name ?? 'dbb',
    level: opts.level ?? process.env.LOG_LEVEL ?? 'info',
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
  }, pino.destination(opts.to === 'stderr' ? 2 : 1));
}

/** postgres://user:pass@host/db → postgres://user:***@host/db, for messages. */
export function safeUrl(url: string): string {
  return url.replace(/\/\/([^:/@]+):[^@]*@/, '//$1:***@');
}

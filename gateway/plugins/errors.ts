// One error catalog: every failure leaves the gateway as application/problem+json (RFC 9457) with a
// stable `code` and a `type` URI built from it. Bad input is always 4xx; only our own faults are 5xx.
import fp from 'fastify-plugin';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { DbbError, isTransient } from '../../platform/errors.ts';

export const PROBLEM_BASE = 'https://data-backbone.dev/problems/';

export interface Problem { type: string; title: string; status: number; code: string; detail?: string; [k: string]: unknown }

const TITLES: Record<number, string> = {
  400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed', 409: 'Conflict',
  413: 'Payload Too Large', 415: 'Unsupported Media Type', 416: 'Range Not Satisfiable', 422: 'Unprocessable Content', 429: 'Too Many Requests',
  500: 'Internal Server Error', 502: 'Bad Gateway', 503: 'Service Unavailable', 504: 'Gateway Timeout',
};

// Fastify's own error codes → ours
const FASTIFY_CODES: Record<string, [number, string]> = {
  FST_ERR_VALIDATION: [400, 'DBB_VALIDATION'],
  FST_ERR_CTP_INVALID_JSON_BODY: [400, 'DBB_MALFORMED_JSON'],
  FST_ERR_CTP_EMPTY_JSON_BODY: [400, 'DBB_MALFORMED_JSON'],
  FST_ERR_CTP_BODY_TOO_LARGE: [413, 'DBB_BODY_TOO_LARGE'],
  FST_ERR_CTP_INVALID_MEDIA_TYPE: [415, 'DBB_UNSUPPORTED_MEDIA_TYPE'],
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: [400, 'DBB_BAD_CONTENT_LENGTH'],
  FST_ERR_BAD_URL: [400, 'DBB_BAD_URL'],
  FST_ERR_ASYNC_CONSTRAINT: [400, 'DBB_BAD_REQUEST'],
};

export function problem(status: number, code: string, detail?: string, extra: Record<string, unknown> = {}): Problem {
  return { type: PROBLEM_BASE + code.toLowerCase().replace(/_/g, '-'), title: TITLES[status] ?? 'Error', status, code, detail, ...extra };
}

export function sendProblem(reply: FastifyReply, p: Problem) {
  return reply.code(p.status).type('application/problem+json').send(p);
}

// Postgres refusing a value that passed the route schema (NUL byte, number out of range, bad text
// form of a number) is the client's bad input, not our fault
const PG_INPUT_ERRORS = new Set(['22021', '22P02', '22003', '22008', '22007', '54000']);

/** A not-found, invalid or refused code is the client's case, whatever status its thrower gave it
 *  (a DbbError defaults to 500): never a 5xx. Other codes keep their status. */
export function statusOfCode(code: string, status: number): number {
  if (status < 500) return status;
  if (/NOT_FOUND/.test(code)) return 404;
  if (/REFUSED|FORBIDDEN|DENIED/.test(code)) return 403;
  if (/INVALID|NOT_ALLOWED/.test(code)) return 400;
  return status;
}

export function toProblem(err: unknown, req: FastifyRequest): Problem {
  if (err instanceof DbbError) return problem(statusOfCode(err.code, err.status), err.code, err.message, err.details ?? {});
  const pgCode = (err as { code?: unknown }).code;
  if (typeof pgCode === 'string' && PG_INPUT_ERRORS.has(pgCode) && (err as { severity?: unknown }).severity) {
    return problem(400, 'DBB_BAD_VALUE', `a value in the request cannot be stored or compared: ${(err as Error).message}`);
  }
  const fe = err as FastifyError & { validation?: unknown[] };
  if (fe.validation) return problem(400, 'DBB_VALIDATION', fe.message, { errors: fe.validation });
  const mapped = fe.code ? FASTIFY_CODES[fe.code] : undefined;
  if (mapped) return problem(mapped[0], mapped[1], fe.message);
  if (fe.statusCode && fe.statusCode >= 400 && fe.statusCode < 500) return problem(fe.statusCode, `DBB_HTTP_${fe.statusCode}`, fe.message);
  // the database or broker is down or overloaded: the client may retry
  if (isTransient(err)) return problem(503, 'DBB_UNAVAILABLE', 'a backing service is unavailable; retry later', { requestId: req.id });
  if (err instanceof SyntaxError && (req.headers['content-type'] ?? '').includes('json')) return problem(400, 'DBB_MALFORMED_JSON', err.message);
  return problem(500, 'DBB_INTERNAL', 'internal error; see the gateway log for this request id', { requestId: req.id });
}

export const errorsPlugin = fp(async (app) => {
  app.setErrorHandler((err, req, reply) => {
    const p = toProblem(err, req);
    if (p.status >= 500 && p.code !== 'DBB_REPLY_TIMEOUT') req.log.error({ err }, 'request failed');
    else req.log.info({ code: p.code, status: p.status }, p.detail ?? p.title);
    return sendProblem(reply, p);
  });
  app.setNotFoundHandler((req, reply) => sendProblem(reply, problem(404, 'DBB_NOT_FOUND', `no route ${req.method} ${req.url.split('?')[0]}`)));
}, { name: 'dbb-errors' });

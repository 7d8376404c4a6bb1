// Every failure leaves the gateway as application/problem+json (RFC 9457): code, status, title and
// `type` URI from the one problem catalog (platform/problems.ts). Bad input is 4xx; only our own faults are 5xx.
import fp from 'fastify-plugin';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { DbbError, isTransient } from '../../platform/errors.ts';
import { PROBLEMS, PROBLEM_BASE, problemType, type ProblemCode } from '../../platform/problems.ts';

export { PROBLEM_BASE };

export interface Problem { type: string; title: string; status: number; code: ProblemCode; detail?: string; [k: string]: unknown }

// Fastify's own error codes → ours
const FASTIFY_CODES: Record<string, ProblemCode> = {
  FST_ERR_VALIDATION: 'DBB_VALIDATION',
  FST_ERR_CTP_INVALID_JSON_BODY: 'DBB_MALFORMED_JSON',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'DBB_MALFORMED_JSON',
  FST_ERR_CTP_BODY_TOO_LARGE: 'DBB_BODY_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'DBB_UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'DBB_BAD_CONTENT_LENGTH',
  FST_ERR_BAD_URL: 'DBB_BAD_URL',
  FST_ERR_ASYNC_CONSTRAINT: 'DBB_BAD_REQUEST',
};

// any other 4xx a plugin or the framework throws, by status (one not listed is a plain 400)
const HTTP_STATUS_CODES: Record<number, ProblemCode> = {
  400: 'DBB_BAD_REQUEST', 404: 'DBB_NOT_FOUND', 405: 'DBB_HTTP_METHOD_NOT_ALLOWED', 413: 'DBB_BODY_TOO_LARGE',
  414: 'DBB_HTTP_URI_TOO_LONG', 415: 'DBB_UNSUPPORTED_MEDIA_TYPE', 416: 'DBB_HTTP_RANGE_NOT_SATISFIABLE', 429: 'DBB_HTTP_TOO_MANY_REQUESTS',
};

/** The problem of a catalog code: status, title and `type` come from the catalog, never from the thrower. */
export function problem(code: ProblemCode, detail?: string, extra: Record<string, unknown> = {}): Problem {
  const { status, title } = PROBLEMS[code];
  return { type: problemType(code), title, status, code, detail, ...extra };
}

export function sendProblem(reply: FastifyReply, p: Problem) {
  return reply.code(p.status).type('application/problem+json').send(p);
}

// Postgres refusing a value that passed the route schema (NUL byte, number out of range, bad text
// form of a number) is the client's bad input, not our fault
const PG_INPUT_ERRORS = new Set(['22021', '22P02', '22003', '22008', '22007', '54000']);

export function toProblem(err: unknown, req: FastifyRequest): Problem {
  if (err instanceof DbbError) return problem(err.code, err.message, err.details ?? {});
  const pgCode = (err as { code?: unknown }).code;
  if (typeof pgCode === 'string' && PG_INPUT_ERRORS.has(pgCode) && (err as { severity?: unknown }).severity) {
    return problem('DBB_BAD_VALUE', `a value in the request cannot be stored or compared: ${(err as Error).message}`);
  }
  const fe = err as FastifyError & { validation?: unknown[] };
  if (fe.validation) return problem('DBB_VALIDATION', fe.message, { errors: fe.validation });
  const mapped = fe.code ? FASTIFY_CODES[fe.code] : undefined;
  if (mapped) return problem(mapped, fe.message);
  if (fe.statusCode && fe.statusCode >= 400 && fe.statusCode < 500) return problem(HTTP_STATUS_CODES[fe.statusCode] ?? 'DBB_BAD_REQUEST', fe.message);
  // the database or broker is down or overloaded: the client may retry
  if (isTransient(err)) return problem('DBB_UNAVAILABLE', 'a backing service is unavailable; retry later', { requestId: req.id });
  if (err instanceof SyntaxError && (req.headers['content-type'] ?? '').includes('json')) return problem('DBB_MALFORMED_JSON', err.message);
  return problem('DBB_INTERNAL', 'internal error; see the gateway log for this request id', { requestId: req.id });
}

export const errorsPlugin = fp(async (app) => {
  app.setErrorHandler((err, req, reply) => {
    const p = toProblem(err, req);
    if (p.status >= 500 && p.code !== 'DBB_REPLY_TIMEOUT') req.log.error({ err }, 'request failed');
    else req.log.info({ code: p.code, status: p.status }, p.detail ?? p.title);
    return sendProblem(reply, p);
  });
  app.setNotFoundHandler((req, reply) => sendProblem(reply, problem('DBB_NOT_FOUND', `no route ${req.method} ${req.url.split('?')[0]}`)));
}, { name: 'dbb-errors' });

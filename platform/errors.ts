// One error base for the whole system (STYLE: Errors). `code` names an entry of the problem catalog
// (platform/problems.ts), which gives the HTTP status the gateway answers with and whether the runtime backs off.
import { PROBLEMS, type ClientProblemCode, type ProblemCode } from './problems.ts';

export class DbbError extends Error {
  readonly code: ProblemCode;
  readonly status: number;
  readonly retriable: boolean;
  readonly details?: Record<string, unknown>;

  constructor(code: ProblemCode, message: string, opts: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    super(message, { cause: opts.cause });
    this.name = new.target.name;
    this.code = code;
    this.status = PROBLEMS[code].status;
    this.retriable = PROBLEMS[code].retriable;
    this.details = opts.details;
  }
}

/** Bad input from a client (a 4xx code): the gateway answers problem+json and appends nothing. */
export class BadRequestError extends DbbError {
  constructor(code: ClientProblemCode, message: string, opts: { details?: Record<string, unknown> } = {}) {
    super(code, message, opts);
  }
}

/** Infrastructure trouble (DB down, broker down): the runtime retries with backoff and never skips. */
export class TransientError extends DbbError {
  constructor(message: string, cause?: unknown) {
    super('DBB_TRANSIENT', message, { cause });
  }
}

/** An event that breaks the rules or cannot be understood: the runtime sends it to the topic's .dlq. */
export class InvalidEventError extends DbbError {
  constructor(message: string, cause?: unknown) {
    super('DBB_EVENT_INVALID', message, { cause });
  }
}

/** A side effect whose outcome is unknown after a crash: recorded as UNKNOWN and reconciled. */
export class EffectUnknownError extends DbbError {
  constructor(effectId: string) {
    super('DBB_EFFECT_UNKNOWN', `effect ${effectId} was started before a crash; its outcome is unknown`);
  }
}

/** The gateway waited for an outcome event that did not come in time; the request stays in the log. */
export class ReplyTimeoutError extends DbbError {
  constructor(correlationId: string, ms: number) {
    super('DBB_REPLY_TIMEOUT', `no outcome for request ${correlationId} within ${ms} ms; it stays queued and will complete`, { details: { correlationId } });
  }
}

/** Errors worth retrying: ours marked retriable, and connection-level failures of pg/kafkajs. */
export function isTransient(err: unknown): boolean {
  if (err instanceof DbbError) return err.retriable;
  if (err instanceof TypeError || err instanceof RangeError || err instanceof SyntaxError) return false;
  const e = err as { code?: string; retriable?: boolean; name?: string };
  if (e?.retriable === true) return true;
  if (typeof e?.code === 'string' && /^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|57P01|57P03|08\d\d\d|40001|40P01|53300)$/.test(e.code)) return true;
  return e?.name === 'KafkaJSConnectionError' || e?.name === 'KafkaJSNumberOfRetriesExceeded';
}

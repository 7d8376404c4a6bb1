// One error base for the whole system (STYLE: Errors). `code` is stable (DBB_<DOMAIN>_<WHAT>),
// `status` is the HTTP status the gateway answers with, `retriable` tells the runtime whether to back off.

export class DbbError extends Error {
  readonly code: string;
  readonly status: number;
  readonly retriable: boolean;
  readonly details?: Record<string, unknown>;

  constructor(code: string, message: string, opts: { status?: number; retriable?: boolean; cause?: unknown; details?: Record<string, unknown> } = {}) {
    super(message, { cause: opts.cause });
    this.name = new.target.name;
    this.code = code;
    this.status = opts.status ?? 500;
    this.retriable = opts.retriable ?? false;
    this.details = opts.details;
  }
}

/** Bad input from a client: the gateway answers `status` (4xx) as problem+json and appends nothing. */
export class BadRequestError extends DbbError {
  constructor(code: string, message: string, opts: { status?: number; details?: Record<string, unknown> } = {}) {
    super(code, message, { status: opts.status ?? 400, details: opts.details });
  }
}

/** Infrastructure trouble (DB down, broker down): the runtime retries with backoff and never skips. */
export class TransientError extends DbbError {
  constructor(message: string, cause?: unknown) {
    super('DBB_TRANSIENT', message, { status: 503, retriable: true, cause });
  }
}

/** An event that breaks the rules or cannot be understood: the runtime sends it to the topic's .dlq. */
export class InvalidEventError extends DbbError {
  constructor(message: string, cause?: unknown) {
    super('DBB_INVALID_EVENT', message, { status: 422, cause });
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
    super('DBB_REPLY_TIMEOUT', `no outcome for request ${correlationId} within ${ms} ms; it stays queued and will complete`, {
      status: 504,
      details: { correlationId },
    });
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

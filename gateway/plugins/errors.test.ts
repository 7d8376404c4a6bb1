import { describe, expect, it } from 'vitest';
import { BadRequestError, DbbError, EffectUnknownError, InvalidEventError, ReplyTimeoutError, TransientError } from '../../platform/errors.ts';
import { statusOfCode, toProblem } from './errors.ts';

const req = { id: 'r1', headers: {} } as never;

describe('problem catalog', () => {
  it('never answers a not-found, invalid or refused code with a 5xx', () => {
    for (const [code, status] of [
      ['DBB_STAGING_NOT_FOUND', 404], ['DBB_STAGING_SOURCE_NOT_FOUND', 404], ['DBB_STAGING_PERMISSION_DENIED', 403], ['DBB_STAGING_SYMLINK_REFUSED', 403],
      ['DBB_TAPE_CALLBACK_FORBIDDEN', 403], ['DBB_STAGING_USERNAME_INVALID', 400], ['DBB_STAGING_METHOD_NOT_ALLOWED', 400], ['DBB_EVENT_INVALID', 400],
    ] as const) {
      expect(toProblem(new DbbError(code, 'x'), req).status, code).toBe(status);
      expect(statusOfCode(code, 500), code).toBe(status);
    }
  });

  it('keeps a 4xx as thrown and our own faults as 5xx', () => {
    expect(toProblem(new BadRequestError('DBB_STAGING_NOT_FAILED', 'x', { status: 409 }), req).status).toBe(409);
    expect(toProblem(new InvalidEventError('x'), req).status).toBe(422);
    expect(toProblem(new DbbError('DBB_STAGING_IO_ERROR', 'x'), req).status).toBe(500);
    expect(toProblem(new EffectUnknownError('e'), req).status).toBe(500);
    expect(toProblem(new TransientError('x'), req).status).toBe(503);
    expect(toProblem(new ReplyTimeoutError('c', 1), req).status).toBe(504);
    expect(toProblem(new TypeError('x'), req).status).toBe(500);
  });
});

import { describe, expect, it } from 'vitest';
import { BadRequestError, DbbError, EffectUnknownError, InvalidEventError, ReplyTimeoutError, TransientError } from '../../platform/errors.ts';
import { PROBLEMS, STAGING_PROBLEMS, stagingProblem, type ProblemCode } from '../../platform/problems.ts';
import { CLIENT_CODES } from '../../domains/staging/paths.ts';
import { problem, toProblem } from './errors.ts';

const req = { id: 'r1', headers: {} } as never;
const codes = Object.keys(PROBLEMS) as ProblemCode[];

describe('problem catalog', () => {
  it('never answers a not-found, invalid or refused code with a 5xx', () => {
    const clientish = codes.filter((c) => /NOT_FOUND|INVALID|REFUSED|FORBIDDEN|DENIED|NOT_ALLOWED/.test(c));
    expect(clientish.length).toBeGreaterThan(15);
    for (const code of clientish) expect(toProblem(new DbbError(code, 'x'), req).status, code).toBeLessThan(500);
    for (const [code, status] of [
      ['DBB_STAGING_NOT_FOUND', 404], ['DBB_STAGING_SOURCE_NOT_FOUND', 400], ['DBB_STAGING_PERMISSION_DENIED', 403], ['DBB_STAGING_SYMLINK_REFUSED', 400],
      ['DBB_TAPE_CALLBACK_FORBIDDEN', 400], ['DBB_STAGING_USERNAME_INVALID', 400], ['DBB_STAGING_METHOD_NOT_ALLOWED', 400], ['DBB_EVENT_INVALID', 400],
    ] as const) expect(toProblem(new DbbError(code, 'x'), req).status, code).toBe(status);
  });

  it('keeps a 4xx as catalogued and our own faults as 5xx', () => {
    expect(toProblem(new BadRequestError('DBB_STAGING_NOT_FAILED', 'x'), req).status).toBe(409);
    expect(toProblem(new BadRequestError('DBB_TAPE_JOB_EXISTS', 'x'), req).status).toBe(403); // the seed's word
    expect(toProblem(new InvalidEventError('x'), req)).toMatchObject({ status: 400, code: 'DBB_EVENT_INVALID' });
    expect(toProblem(new DbbError('DBB_STAGING_IO_ERROR', 'x'), req).status).toBe(500);
    expect(toProblem(new EffectUnknownError('e'), req).status).toBe(500);
    expect(toProblem(new TransientError('x'), req).status).toBe(503);
    expect(toProblem(new ReplyTimeoutError('c', 1), req).status).toBe(504);
    expect(toProblem(new TypeError('x'), req).status).toBe(500);
  });

  it('takes status, title, retriable and type from the catalog', () => {
    expect(problem('DBB_TAPE_JOB_NOT_FOUND', 'no job 7')).toEqual({
      type: 'https://data-backbone.dev/problems/dbb-tape-job-not-found', title: PROBLEMS.DBB_TAPE_JOB_NOT_FOUND.title, status: 404, code: 'DBB_TAPE_JOB_NOT_FOUND', detail: 'no job 7',
    });
    expect(new TransientError('x').retriable).toBe(true);
    expect(new InvalidEventError('x').retriable).toBe(false);
    for (const code of codes) expect(new DbbError(code, 'x'), code).toMatchObject({ status: PROBLEMS[code].status, retriable: PROBLEMS[code].retriable });
  });

  it('answers the seed staging refusals 400 and everything else it records as a failure 5xx, 403 or 404', () => {
    for (const [refusal, code] of Object.entries(STAGING_PROBLEMS)) {
      expect(code).toBe(`DBB_STAGING_${refusal}`); // the HTTP code and the recorded error_code agree
      const status = PROBLEMS[code].status;
      if (CLIENT_CODES.has(refusal)) expect(status, refusal).toBe(400);
      else expect([403, 404, 500], refusal).toContain(status);
    }
    for (const c of CLIENT_CODES) expect(stagingProblem(c), c).not.toBe('DBB_STAGING_FAILED');
    expect(stagingProblem('SOMETHING_NEW')).toBe('DBB_STAGING_FAILED');
  });

  it('maps a framework 4xx without its own code by status', () => {
    const err = (statusCode: number) => Object.assign(new Error('x'), { statusCode });
    expect(toProblem(err(405), req)).toMatchObject({ status: 405, code: 'DBB_HTTP_METHOD_NOT_ALLOWED' });
    expect(toProblem(err(414), req)).toMatchObject({ status: 414, code: 'DBB_HTTP_URI_TOO_LONG' });
    expect(toProblem(err(418), req)).toMatchObject({ status: 400, code: 'DBB_BAD_REQUEST' });
  });
});

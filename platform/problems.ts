// The problem catalog (STYLE: Errors; ARCHITECTURE §5): every error code the system throws or answers,
// with its HTTP status, title and whether retrying may help. Platform and domains import it; the
// gateway's problem+json (gateway/plugins/errors.ts) maps from it. docs/problems.md is generated from it.

export const PROBLEM_BASE = 'https://data-backbone.dev/problems/';

interface ProblemEntry { readonly status: number; readonly title: string; readonly retriable: boolean }

/** code → {status, title, retriable}. Codes are stable (clients match on them): add, never rename.
 *  Codes without a domain (DBB_VALIDATION, DBB_NOT_FOUND, ...) are the gateway's HTTP-layer codes. */
export const PROBLEMS = {
  // platform: the consumer runtime acts on `retriable` (back off) and on DBB_EVENT_INVALID (DLQ)
  DBB_TRANSIENT: { status: 503, title: 'A backing service is unavailable', retriable: true },
  DBB_EVENT_INVALID: { status: 400, title: 'Invalid event', retriable: false },
  DBB_EFFECT_UNKNOWN: { status: 500, title: 'Outcome of a side effect unknown', retriable: false },
  DBB_REPLY_TIMEOUT: { status: 504, title: 'No outcome in time; the request stays queued', retriable: false },

  // gateway, any route
  DBB_VALIDATION: { status: 400, title: 'Request does not match the schema', retriable: false },
  DBB_MALFORMED_JSON: { status: 400, title: 'Malformed JSON body', retriable: false },
  DBB_BAD_CONTENT_LENGTH: { status: 400, title: 'Bad Content-Length', retriable: false },
  DBB_BAD_URL: { status: 400, title: 'Malformed URL', retriable: false },
  DBB_BAD_VALUE: { status: 400, title: 'A value cannot be stored or compared', retriable: false },
  DBB_BAD_REQUEST: { status: 400, title: 'Bad request', retriable: false },
  DBB_NOT_FOUND: { status: 404, title: 'No such route', retriable: false },
  DBB_HTTP_METHOD_NOT_ALLOWED: { status: 405, title: 'Method not allowed', retriable: false },
  DBB_BODY_TOO_LARGE: { status: 413, title: 'Request body too large', retriable: false },
  DBB_HTTP_URI_TOO_LONG: { status: 414, title: 'URI too long', retriable: false },
  DBB_UNSUPPORTED_MEDIA_TYPE: { status: 415, title: 'Unsupported media type', retriable: false },
  DBB_HTTP_RANGE_NOT_SATISFIABLE: { status: 416, title: 'Range not satisfiable', retriable: false },
  DBB_HTTP_TOO_MANY_REQUESTS: { status: 429, title: 'Too many requests', retriable: true },
  DBB_INTERNAL: { status: 500, title: 'Internal error', retriable: false },
  DBB_UNAVAILABLE: { status: 503, title: 'A backing service is unavailable', retriable: true },
  DBB_DOMAIN_UNAVAILABLE: { status: 503, title: 'Domain not available at this site', retriable: false },

  // auth (gateway/plugins/auth.ts; bound tokens in the routes)
  DBB_AUTH_REQUIRED: { status: 401, title: 'Bearer token required', retriable: false },
  DBB_AUTH_INVALID: { status: 401, title: 'Unknown bearer token', retriable: false },
  DBB_AUTH_FORBIDDEN: { status: 403, title: 'Role not allowed', retriable: false },
  DBB_AUTH_FORBIDDEN_USER: { status: 403, title: 'Token bound to another user', retriable: false },

  // raw events (/api/v1/events)
  DBB_UNKNOWN_EVENT: { status: 404, title: 'No such event type', retriable: false },

  // history and point-in-time snapshots (docs/history.md)
  DBB_HISTORY_NOT_FOUND: { status: 404, title: 'No event of this entity', retriable: false },
  DBB_SNAPSHOT_NOT_FOUND: { status: 404, title: 'No such snapshot of this read model', retriable: false },

  // console
  DBB_CONSOLE_UNKNOWN_TOPIC: { status: 400, title: 'Unknown topic', retriable: false },
  DBB_CONSOLE_TOPIC_NOT_FOUND: { status: 404, title: 'No such topic', retriable: false },
  DBB_CONSOLE_FILE_EXISTS: { status: 409, title: 'File already exists', retriable: false },

  // gw (seed routes /streamdata, /train)
  DBB_GW_BAD_BODY: { status: 400, title: 'Bad strain chunk body', retriable: false },
  DBB_GW_BAD_STRAIN: { status: 400, title: 'Bad strain samples', retriable: false },
  DBB_GW_BAD_TIME: { status: 400, title: 'Bad chunk time', retriable: false },
  DBB_GW_EMPTY_CHUNK: { status: 400, title: 'Empty strain chunk', retriable: false },
  DBB_GW_TOKEN_INVALID: { status: 401, title: 'Unknown token in the body', retriable: false },
  DBB_GW_TOKEN_FORBIDDEN: { status: 403, title: 'Token may not freeze', retriable: false },
  // gw strain read-back (GET /api/v1/gw/datastores/{id}/strain)
  DBB_GW_BAD_RANGE: { status: 400, title: 'Bad time range', retriable: false },
  DBB_GW_RANGE_TOO_LARGE: { status: 400, title: 'Time range holds too many samples', retriable: false },
  DBB_GW_DATASTORE_NOT_FOUND: { status: 404, title: 'No strain stored in this datastore', retriable: false },
  DBB_GW_MIXED_SAMPLING: { status: 409, title: 'Chunks in range are on different sample grids', retriable: false },
  DBB_GW_CHUNK_UNREADABLE: { status: 500, title: 'Indexed chunk file missing or inconsistent', retriable: false },

  // ingest
  DBB_INGEST_BAD_SINCE: { status: 400, title: 'Bad since time', retriable: false },
  DBB_INGEST_FILE_NOT_FOUND: { status: 404, title: 'No such ingest file', retriable: false },

  // tape (the seed answers an existing job id with 403)
  DBB_TAPE_NO_FILES: { status: 400, title: 'Job without files', retriable: false },
  DBB_TAPE_NO_OBS_ID: { status: 400, title: 'Observation without obs_id', retriable: false },
  DBB_TAPE_TOO_MANY_FILES: { status: 400, title: 'Too many files in a job', retriable: false },
  DBB_TAPE_CALLBACK_FORBIDDEN: { status: 400, title: 'Callback address not allowed', retriable: false },
  DBB_TAPE_JOB_EXISTS: { status: 403, title: 'Job id already used', retriable: false },
  DBB_TAPE_JOB_NOT_FOUND: { status: 404, title: 'No such tape job', retriable: false },
  DBB_TAPE_SCOUT: { status: 502, title: 'Tape scout failed', retriable: false },

  // staging, gateway side
  DBB_STAGING_NOT_FAILED: { status: 409, title: 'Only a failed request can be rerun', retriable: false },
  DBB_STAGING_NOT_DOWNLOADABLE: { status: 409, title: 'Request has no file to download', retriable: false },
  DBB_STAGING_RANGE: { status: 416, title: 'Range not satisfiable', retriable: false },
  DBB_STAGING_UNEXPECTED_REPLY: { status: 500, title: 'Unexpected reply', retriable: false },
  DBB_STAGING_FAILED: { status: 500, title: 'Staging failed', retriable: false },
  // staging refusals (StagingFailed / StagingRefusal codes, see STAGING_PROBLEMS): the seed answers
  // its client refusals (CLIENT_CODES in the staging rules) with 400, everything else with 500
  DBB_STAGING_METHOD_NOT_ALLOWED: { status: 400, title: 'Staging method not allowed', retriable: false },
  DBB_STAGING_USERNAME_INVALID: { status: 400, title: 'Invalid username', retriable: false },
  DBB_STAGING_PATH_EMPTY: { status: 400, title: 'Empty path', retriable: false },
  DBB_STAGING_PATH_NUL: { status: 400, title: 'Path contains a NUL byte', retriable: false },
  DBB_STAGING_PATH_TOO_LONG: { status: 400, title: 'Path too long', retriable: false },
  DBB_STAGING_NAME_TOO_LONG: { status: 400, title: 'Path component too long', retriable: false },
  DBB_STAGING_PATH_TRAVERSAL: { status: 400, title: "Path contains '..'", retriable: false },
  DBB_STAGING_PATH_INVALID: { status: 400, title: 'Invalid path', retriable: false },
  DBB_STAGING_PATH_ABSOLUTE: { status: 400, title: 'Destination path is absolute', retriable: false },
  DBB_STAGING_PATH_ESCAPE: { status: 400, title: 'Source outside the storage root', retriable: false },
  DBB_STAGING_SYMLINK_REFUSED: { status: 400, title: 'Symbolic link refused', retriable: false },
  DBB_STAGING_NOT_A_DIRECTORY: { status: 400, title: 'Not a directory', retriable: false },
  DBB_STAGING_SOURCE_NOT_FOUND: { status: 400, title: 'Source path does not exist', retriable: false },
  DBB_STAGING_SOURCE_NOT_REGULAR: { status: 400, title: 'Source is not a regular file', retriable: false },
  DBB_STAGING_DESTINATION_CONFLICT: { status: 400, title: 'A different file exists at the destination', retriable: false },
  DBB_STAGING_CROSS_DEVICE: { status: 400, title: 'Hard link across filesystems', retriable: false },
  DBB_STAGING_USER_AREA_NOT_FOUND: { status: 400, title: 'User areas base missing', retriable: false },
  DBB_STAGING_NOT_FOUND: { status: 404, title: 'No such staging request or path', retriable: false },
  DBB_STAGING_PERMISSION_DENIED: { status: 403, title: 'Permission denied on the storage', retriable: false },
  DBB_STAGING_IO_ERROR: { status: 500, title: 'Storage I/O error', retriable: false },
  DBB_STAGING_COPY_INCOMPLETE: { status: 500, title: 'Copy incomplete', retriable: false },
  DBB_STAGING_SOURCE_CHANGED: { status: 500, title: 'Source replaced while staging', retriable: false },
  DBB_STAGING_INTERRUPTED: { status: 500, title: 'Staging interrupted by a processor stop', retriable: false },
  DBB_STAGING_JUPYTER_UNAVAILABLE: { status: 500, title: 'Jupyter server unavailable', retriable: true },
  DBB_STAGING_JUPYTER_ERROR: { status: 500, title: 'Jupyter server error', retriable: false },
  DBB_STAGING_CHECKSUM_MISMATCH: { status: 500, title: 'Copy does not match the source sha256', retriable: false },
  DBB_STAGING_NOTIFY_FORBIDDEN: { status: 400, title: 'notify_url not allowed', retriable: false },
} as const satisfies Record<string, ProblemEntry>;

/** A catalog code: a typo is a compile error. */
export type ProblemCode = keyof typeof PROBLEMS;
type Catalog = typeof PROBLEMS;
/** Codes whose status is 4xx: the only ones a BadRequestError may carry. */
export type ClientProblemCode = { [K in ProblemCode]: `${Catalog[K]['status']}` extends `4${string}` ? K : never }[ProblemCode];

/** The problem `type` URI of a code (RFC 9457 §3.1.1): DBB_TAPE_JOB_EXISTS → …/problems/dbb-tape-job-exists. */
export const problemType = (code: ProblemCode): string => PROBLEM_BASE + code.toLowerCase().replace(/_/g, '-');

export const isProblemCode = (code: string): code is ProblemCode => Object.hasOwn(PROBLEMS, code);

/** Staging refusal codes (StagingRefusal, path checks, StagingFailed.code) → catalog codes. The HTTP
 *  code is DBB_STAGING_<refusal code> (clients and the recorded error_code agree); spelled out so each
 *  one is checked against the catalog. */
export const STAGING_PROBLEMS = {
  METHOD_NOT_ALLOWED: 'DBB_STAGING_METHOD_NOT_ALLOWED',
  USERNAME_INVALID: 'DBB_STAGING_USERNAME_INVALID',
  PATH_EMPTY: 'DBB_STAGING_PATH_EMPTY',
  PATH_NUL: 'DBB_STAGING_PATH_NUL',
  PATH_TOO_LONG: 'DBB_STAGING_PATH_TOO_LONG',
  NAME_TOO_LONG: 'DBB_STAGING_NAME_TOO_LONG',
  PATH_TRAVERSAL: 'DBB_STAGING_PATH_TRAVERSAL',
  PATH_INVALID: 'DBB_STAGING_PATH_INVALID',
  PATH_ABSOLUTE: 'DBB_STAGING_PATH_ABSOLUTE',
  PATH_ESCAPE: 'DBB_STAGING_PATH_ESCAPE',
  SYMLINK_REFUSED: 'DBB_STAGING_SYMLINK_REFUSED',
  NOT_A_DIRECTORY: 'DBB_STAGING_NOT_A_DIRECTORY',
  SOURCE_NOT_FOUND: 'DBB_STAGING_SOURCE_NOT_FOUND',
  SOURCE_NOT_REGULAR: 'DBB_STAGING_SOURCE_NOT_REGULAR',
  DESTINATION_CONFLICT: 'DBB_STAGING_DESTINATION_CONFLICT',
  CROSS_DEVICE: 'DBB_STAGING_CROSS_DEVICE',
  USER_AREA_NOT_FOUND: 'DBB_STAGING_USER_AREA_NOT_FOUND',
  NOT_FOUND: 'DBB_STAGING_NOT_FOUND',
  PERMISSION_DENIED: 'DBB_STAGING_PERMISSION_DENIED',
  IO_ERROR: 'DBB_STAGING_IO_ERROR',
  COPY_INCOMPLETE: 'DBB_STAGING_COPY_INCOMPLETE',
  SOURCE_CHANGED: 'DBB_STAGING_SOURCE_CHANGED',
  INTERRUPTED: 'DBB_STAGING_INTERRUPTED',
  JUPYTER_UNAVAILABLE: 'DBB_STAGING_JUPYTER_UNAVAILABLE',
  JUPYTER_ERROR: 'DBB_STAGING_JUPYTER_ERROR',
  CHECKSUM_MISMATCH: 'DBB_STAGING_CHECKSUM_MISMATCH',
} as const satisfies Record<string, ProblemCode>;

export type StagingRefusalCode = keyof typeof STAGING_PROBLEMS;

/** The catalog code of a staging refusal; a code this build does not know (an old event) is DBB_STAGING_FAILED. */
export const stagingProblem = (code: string): ProblemCode =>
  (Object.hasOwn(STAGING_PROBLEMS, code) ? STAGING_PROBLEMS[code as StagingRefusalCode] : 'DBB_STAGING_FAILED');

/** docs/problems.md: the catalog as a table (kept current by platform/problems.test.ts). */
export function renderProblemsDoc(): string {
  const rows = (Object.keys(PROBLEMS) as ProblemCode[]).map((code) => {
    const p = PROBLEMS[code];
    return `| \`${code}\` | ${p.status} | ${p.title} | ${p.retriable ? 'yes' : 'no'} | \`${problemType(code).slice(PROBLEM_BASE.length)}\` |`;
  });
  return [
    '# Problem catalog',
    '',
    'Generated from `platform/problems.ts` by `platform/problems.test.ts` (`npx vitest run -u platform/problems.test.ts` rewrites it); do not edit by hand.',
    `Every error leaves the gateway as \`application/problem+json\` (RFC 9457) with \`code\`, \`status\`, \`title\` and \`type\` = \`${PROBLEM_BASE}<slug>\`.`,
    '`retriable`: retrying the same call may succeed (the consumer runtime backs off on these instead of dead-lettering).',
    '',
    '| code | status | title | retriable | type slug |',
    '| --- | --- | --- | --- | --- |',
    ...rows,
    '',
  ].join('\n');
}

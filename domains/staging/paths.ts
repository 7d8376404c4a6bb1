// Lexical checks of client-supplied paths and user names, and the refusal codes a client causes
// (pure; the gateway and the rules both run them). They never touch the filesystem: links are
// handled by platform/safe-fs.ts, component by component.

import type { StagingRefusalCode } from '../../platform/problems.ts';

export const NAME_MAX = 255; // bytes per component (Linux NAME_MAX)
export const PATH_MAX = 4095; // bytes per path, without the NUL (Linux PATH_MAX - 1)

export type PathCheck = { ok: true; components: string[] } | { ok: false; code: StagingRefusalCode; reason: string };

const USERNAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/;

export function checkUsername(username: string): { ok: true } | { ok: false; code: StagingRefusalCode; reason: string } {
  return USERNAME.test(username) && username !== '.' && username !== '..'
    ? { ok: true }
    : { ok: false, code: 'USERNAME_INVALID', reason: `Invalid username: ${JSON.stringify(username)} (letters, digits, _ . -, at most 64)` };
}

/** An unpaired UTF-16 surrogate: no file name can hold it (fs writes U+FFFD, the event pipeline
 *  turned it into three U+FFFD), so the name asked for and the name touched would differ. */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

function components(path: string, what: string): PathCheck {
  if (path.length === 0) return { ok: false, code: 'PATH_EMPTY', reason: `${what} is empty` };
  if (path.includes('\0')) return { ok: false, code: 'PATH_NUL', reason: `${what} contains a NUL byte` };
  if (LONE_SURROGATE.test(path)) return { ok: false, code: 'PATH_INVALID', reason: `${what} is not valid Unicode (unpaired surrogate)` };
  if (Buffer.byteLength(path) > PATH_MAX) return { ok: false, code: 'PATH_TOO_LONG', reason: `${what} is longer than ${PATH_MAX} bytes` };
  const parts = path.split('/');
  for (const c of parts) {
    if (c === '..') return { ok: false, code: 'PATH_TRAVERSAL', reason: `${what} must not contain '..': ${path}` };
    if (c === '' || c === '.') return { ok: false, code: 'PATH_INVALID', reason: `${what} has an empty or '.' component: ${path}` };
    if (Buffer.byteLength(c) > NAME_MAX) return { ok: false, code: 'NAME_TOO_LONG', reason: `${what} has a component longer than ${NAME_MAX} bytes` };
  }
  return { ok: true, components: parts };
}

/** Destination inside the user's area: relative, no '..', no empty components. */
export function checkRelativePath(path: string): PathCheck {
  if (path.startsWith('/')) return { ok: false, code: 'PATH_ABSOLUTE', reason: `relative_path must be relative to the user area: ${path}` };
  return components(path, 'relative_path');
}

/** Source under the storage root: either absolute below `root` (as the seed's clients send it) or relative to it. */
export function checkSourcePath(path: string, root: string): PathCheck {
  if (path.includes('\0')) return { ok: false, code: 'PATH_NUL', reason: 'local_path_on_storage contains a NUL byte' };
  let rel = path;
  if (path.startsWith('/')) {
    const prefix = root.endsWith('/') ? root : `${root}/`;
    if (!path.startsWith(prefix)) return { ok: false, code: 'PATH_ESCAPE', reason: `Source path is outside the storage root: ${path}` };
    rel = path.slice(prefix.length);
  }
  return components(rel, 'local_path_on_storage');
}

/** Client-caused refusal codes: the seed answers these with 400 (everything else is a 500). */
export const CLIENT_CODES = new Set<string>([
  'METHOD_NOT_ALLOWED', 'USERNAME_INVALID', 'PATH_EMPTY', 'PATH_NUL', 'PATH_TOO_LONG', 'NAME_TOO_LONG', 'PATH_TRAVERSAL',
  'PATH_INVALID', 'PATH_ABSOLUTE', 'PATH_ESCAPE', 'SYMLINK_REFUSED', 'NOT_A_DIRECTORY', 'SOURCE_NOT_FOUND', 'SOURCE_NOT_REGULAR',
  'DESTINATION_CONFLICT', 'CROSS_DEVICE', 'USER_AREA_NOT_FOUND',
] satisfies StagingRefusalCode[]);

// Bearer-token auth with roles reader < producer < operator. Tokens are stored as SHA-256 hashes
// (config DBB_TOKENS `name:role:hash[:user=<username>]`) and compared in constant time; a token bound
// to a user acts only for that user (routes check with mayActFor). Route groups named in
// DBB_ANONYMOUS_ROUTES are open to the seeds' token-less clients.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from '../../platform/config.ts';
import type { Auth, Principal, Role } from '../types.ts';
import { problem, sendProblem } from './errors.ts';

const RANK: Record<Role, number> = { reader: 1, producer: 2, operator: 3 };

export const hashToken = (token: string) => createHash('sha256').update(token, 'utf8').digest('hex');

interface Entry { name: string; role: Role; hash: Buffer; user: string | null }

/** One DBB_TOKENS entry: `name:role:sha256hex` or `name:role:sha256hex:user=<username>`. */
export function parseTokenEntry(entry: string): Entry {
  const [name, role, hex, ...rest] = entry.split(':');
  const bound = rest.length === 1 ? /^user=([A-Za-z0-9_][A-Za-z0-9_.-]{0,63})$/.exec(rest[0]) : null;
  if (!name || !(role in RANK) || !/^[0-9a-f]{64}$/.test(hex ?? '') || (rest.length && !bound)) {
    throw new Error(`DBB_TOKENS: entry for ${name || '?'} is not name:role:sha256hex[:user=<username>]`);
  }
  return { name, role: role as Role, hash: Buffer.from(hex, 'hex'), user: bound ? bound[1] : null };
}

export function createAuth(config: Pick<Config, 'tokens' | 'anonymousRoutes'>): Auth {
  const entries: Entry[] = config.tokens.map(parseTokenEntry);
  const open = new Set(config.anonymousRoutes);

  function verify(token: string): Principal | null {
    if (!token) return null;
    const h = Buffer.from(hashToken(token), 'hex');
    let found: Entry | null = null;
    for (const e of entries) if (timingSafeEqual(e.hash, h)) found = e; // no early exit: same work for every token
    return found ? { name: found.name, role: found.role, user: found.user } : null;
  }

  function require(role: Role, group?: string) {
    return async (req: FastifyRequest, reply: FastifyReply) => {
      const header = req.headers.authorization;
      const m = typeof header === 'string' ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
      if (!m) {
        if (group && open.has(group)) { req.principal = null; return; }
        return sendProblem(reply.header('www-authenticate', 'Bearer'), problem('DBB_AUTH_REQUIRED', `${req.method} ${req.routeOptions.url} needs a bearer token with role ${role} or above`));
      }
      const p = verify(m[1]);
      if (!p) return sendProblem(reply.header('www-authenticate', 'Bearer error="invalid_token"'), problem('DBB_AUTH_INVALID', 'unknown bearer token'));
      if (RANK[p.role] < RANK[role]) return sendProblem(reply, problem('DBB_AUTH_FORBIDDEN', `role ${p.role} may not do this; needs ${role}`));
      req.principal = p;
    };
  }

  return { require, verify };
}

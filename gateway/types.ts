// What every route plugin receives. Routes validate input, append request events or wait for outcomes
// (request/reply), and read projections only through projections/<domain>/queries.ts.
import type pg from 'pg';
import type { Logger } from 'pino';
import type { FastifyBaseLogger, FastifyInstance, FastifyReply, FastifyRequest, RawServerDefault, RawRequestDefaultExpression, RawReplyDefaultExpression } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Config, Env } from '../platform/config.ts';
import type { Availability } from '../platform/availability.ts';
import type { Appender } from '../platform/types.ts';
import type { RequestReply } from '../platform/request-reply.ts';

export type Role = 'reader' | 'producer' | 'operator';
/** `user`: the user a token is bound to (DBB_TOKENS `name:role:hash:user=alice`); null = acts for any user. */
export interface Principal { name: string; role: Role; user: string | null }

/** A preHandler that answers 401/403 itself or sets `req.principal`. */
export type Guard = (req: FastifyRequest, reply: FastifyReply) => Promise<unknown>;

export interface Auth {
  /** preHandler that requires at least `role`; `group` names the route group that config may open to anonymous callers. */
  require(role: Role, group?: string): Guard;
  /** Checks a raw token (the seeds' `{user, token}` body fields); null when unknown. */
  verify(token: string): Principal | null;
}

export interface GatewayDeps {
  config: Config;
  env: Env;
  db: pg.Pool;
  appender: Appender;
  replies: RequestReply;
  auth: Auth;
  log: Logger;
  /** domains (or parts, e.g. `ivoa.tap`) that cannot serve: their routes answer 503 */
  availability?: Availability;
}

export type App = FastifyInstance<RawServerDefault, RawRequestDefaultExpression, RawReplyDefaultExpression, FastifyBaseLogger, TypeBoxTypeProvider>;
/** A domain's routes: one encapsulated plugin. */
export type RoutePlugin = (app: App, deps: GatewayDeps) => Promise<void>;

declare module 'fastify' {
  interface FastifyRequest { principal: Principal | null }
  interface FastifyContextConfig {
    /** The route answers malformed query values (NaN/Infinity, NUL) itself (SCS with a VOTable error, TAP through
     *  DaCHS); by default they are a 400 problem. */
    ownQueryErrors?: boolean;
    /** The part of its domain the route needs, when narrower than the domain (e.g. `ivoa.tap`): 503 while it is unavailable. */
    requires?: string;
  }
}

/** Whether the caller may act for / see `username`: an unbound token or an open seed group acts for
 *  any user (a trusted frontend, as in the seed); a bound token only for its own user. */
export const mayActFor = (req: FastifyRequest, username: string) => !req.principal?.user || req.principal.user === username;
/** The user a bound token is limited to; null when the caller may see every user. */
export const boundUser = (req: FastifyRequest) => req.principal?.user ?? null;

/** The actor recorded on events appended for this request. */
export const actorOf = (req: FastifyRequest) => req.principal?.name ?? null;

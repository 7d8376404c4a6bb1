// What every route plugin receives. Routes validate input, append request events or wait for outcomes
// (request/reply), and read projections only through projections/<domain>/queries.ts.
import type pg from 'pg';
import type { Logger } from 'pino';
import type { FastifyBaseLogger, FastifyInstance, FastifyReply, FastifyRequest, RawServerDefault, RawRequestDefaultExpression, RawReplyDefaultExpression } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Config, Env } from '../platform/config.ts';
import type { Appender, AppendOptions, BodyOf, DecodedEvent, EventName } from '../platform/types.ts';

export type Role = 'reader' | 'producer' | 'operator';
export interface Principal { name: string; role: Role }

export interface RequestReply {
  /** Appends the request and resolves with the first event named in `replies` that carries the same
   *  correlationId. Rejects with ReplyTimeoutError (→ 504) after `timeoutMs`. */
  request<N extends EventName>(name: N, key: string, body: BodyOf<N>, opts: AppendOptions & { replies: EventName[]; timeoutMs?: number }): Promise<DecodedEvent>;
  /** Live events (for SSE): calls `fn` for every event on `topics` until the returned function is called. */
  subscribe(topics: string[], fn: (event: DecodedEvent) => void): () => void;
}

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
}

export type App = FastifyInstance<RawServerDefault, RawRequestDefaultExpression, RawReplyDefaultExpression, FastifyBaseLogger, TypeBoxTypeProvider>;
/** A domain's routes: one encapsulated plugin. */
export type RoutePlugin = (app: App, deps: GatewayDeps) => Promise<void>;

declare module 'fastify' {
  interface FastifyRequest { principal: Principal | null }
  interface FastifyContextConfig {
    /** The route answers NaN/Infinity query values itself (e.g. SCS with a VOTable error); by default they are a 400. */
    nonFiniteNumbers?: boolean;
  }
}

/** The actor recorded on events appended for this request. */
export const actorOf = (req: FastifyRequest) => req.principal?.name ?? null;

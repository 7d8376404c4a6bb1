// Who did what (issue 21.3, docs/history.md): GET /api/v1/<domain>/<entity>/{id}/history answers every
// event of one entity from the history projection, oldest first: time, actor (token name), event,
// outcome. Read only. gw's /api/v1/gw/datastores/{id}/history predates this (gw routes, same facts in
// the gw log's shape); the generic /api/v1/history/{domain}/{id} serves gw and every other domain.
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyRequest } from 'fastify';
import { BadRequestError } from '../../platform/errors.ts';
import { getEntityHistory } from '../../projections/history/queries.ts';
import { NAME as HISTORY } from '../../projections/history/index.ts';
import { getStagingRequest } from '../../projections/staging/queries.ts';
import { jobKey } from '../../domains/tape/ids.ts';
import { AS_OF, schemaAsOf } from '../as-of.ts';
import { boundUser, mayActFor, type GatewayDeps, type RoutePlugin } from '../types.ts';

const Entry = Type.Object({
  at: Type.String({ format: 'date-time' }), actor: Type.Union([Type.String(), Type.Null()]), event: Type.String(),
  outcome: Type.Union([Type.Literal('REQUESTED'), Type.Literal('DONE'), Type.Literal('FAILED'), Type.Literal('REFUSED')]),
  detail: Type.Union([Type.String(), Type.Null()]), correlationId: Type.Union([Type.String(), Type.Null()]),
  topic: Type.String(), partition: Type.Integer(), offset: Type.Integer(),
});
const Reply = Type.Object({ domain: Type.String(), id: Type.String(), events: Type.Array(Entry) });
const Query = Type.Object({ limit: Type.Integer({ minimum: 1, maximum: 10_000, default: 1000 }), ...AS_OF });
const Domain = Type.Union(['gw', 'staging', 'tape', 'ingest', 'ivoa'].map((d) => Type.Literal(d)));
const Id = Type.String({ minLength: 1, maxLength: 1024 });

async function answer(deps: GatewayDeps, domain: string, key: string, q: Static<typeof Query>) {
  const events = await getEntityHistory(deps.db, domain, key, q.limit, await schemaAsOf(deps, HISTORY, q.as_of));
  if (!events.length) throw new BadRequestError('DBB_HISTORY_NOT_FOUND', `no event of ${domain} ${key}`);
  return { domain, id: key, events };
}

/** A token bound to a user sees the history of that user's staging requests only (as the request route). */
async function checkStagingOwner(req: FastifyRequest, deps: GatewayDeps, id: string) {
  if (!boundUser(req)) return;
  const rec = await getStagingRequest(deps.db, id);
  if (!rec) throw new BadRequestError('DBB_HISTORY_NOT_FOUND', `no event of staging ${id}`);
  if (!mayActFor(req, rec.username)) throw new BadRequestError('DBB_AUTH_FORBIDDEN_USER', `token ${req.principal!.name} is bound to user ${req.principal!.user} and may not see the history of a request of user ${rec.username}`);
}

export const historyRoutes: RoutePlugin = async (app, deps) => {
  const read = deps.auth.require('reader');
  const schema = (summary: string, params: ReturnType<typeof Type.Object>) => ({ tags: ['history'], summary, params, querystring: Query, response: { 200: Reply } });

  app.get('/api/v1/staging/requests/:id/history', { onRequest: read, schema: schema('Every event of a staging request: time, actor, event, outcome', Type.Object({ id: Id })) },
    async (req) => {
      const { id } = req.params as { id: string };
      await checkStagingOwner(req, deps, id);
      return answer(deps, 'staging', id, req.query as Static<typeof Query>);
    });
  app.get('/api/v1/tape/jobs/:jobId/history', { onRequest: read, schema: schema('Every event of a tape job: time, actor, event, outcome', Type.Object({ jobId: Type.Integer({ minimum: 0 }) })) },
    async (req) => answer(deps, 'tape', jobKey((req.params as { jobId: number }).jobId), req.query as Static<typeof Query>));
  app.get('/api/v1/ingest/files/:id/history', { onRequest: read, schema: schema('Every event of an ingest file: time, actor, event, outcome', Type.Object({ id: Id })) },
    async (req) => answer(deps, 'ingest', (req.params as { id: string }).id, req.query as Static<typeof Query>));
  app.get('/api/v1/ivoa/dids/:did/history', { onRequest: read, schema: schema('Every event of a DID (`scope:name`, URL-encoded): registered, replicas, deleted, by whom', Type.Object({ did: Id })) },
    async (req) => answer(deps, 'ivoa', (req.params as { did: string }).did, req.query as Static<typeof Query>));
  app.get('/api/v1/history/:domain/:id', { onRequest: read, schema: schema('Every event of one entity of any domain (the Kafka key: datastore, request, job, file id, DID)', Type.Object({ domain: Domain, id: Id })) },
    async (req) => {
      const { domain, id } = req.params as { domain: string; id: string };
      if (domain === 'staging') await checkStagingOwner(req, deps, id);
      return answer(deps, domain, id, req.query as Static<typeof Query>);
    });
};

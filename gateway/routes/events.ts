// POST /api/v1/events/{name}: appends any catalog event from JSON (producer role), for operators and
// tools. The body is checked against the event's Avro schema; bytes fields take base64 strings.
import { Type } from '@sinclair/typebox';
import avro from 'avsc';
import { loadCatalog } from '../../platform/catalog.ts';
import { BadRequestError } from '../../platform/errors.ts';
import type { EventName } from '../../platform/types.ts';
import { actorOf, boundUser, type RoutePlugin } from '../types.ts';

export const eventsRoutes: RoutePlugin = async (app, deps) => {
  const catalog = loadCatalog();
  const bodyTypes = new Map([...catalog.byName.values()].map((e) => [e.name, avro.Type.forSchema({ ...e.schema, fields: e.schema.fields.filter((f) => f.name !== 'meta') } as avro.Schema)]));

  app.post('/api/v1/events/:name', {
    onRequest: deps.auth.require('producer'),
    schema: {
      summary: 'Append an event of any catalog type',
      params: Type.Object({ name: Type.String({ maxLength: 200 }) }),
      body: Type.Object({ key: Type.String({ minLength: 1, maxLength: 1000 }), body: Type.Record(Type.String(), Type.Unknown()), correlationId: Type.Optional(Type.String({ maxLength: 200 })) }),
      response: { 202: Type.Object({ eventId: Type.String(), correlationId: Type.String(), topic: Type.String() }) },
    },
  }, async (req, reply) => {
    // any event may name any user: only an unbound token (a trusted tool) may append raw events
    if (boundUser(req)) throw new BadRequestError('DBB_AUTH_FORBIDDEN_USER', `token ${req.principal!.name} is bound to user ${req.principal!.user} and may not append raw events`);
    const type = bodyTypes.get(req.params.name);
    if (!type) throw new BadRequestError('DBB_UNKNOWN_EVENT', `no event type ${req.params.name}; known: ${[...bodyTypes.keys()].sort().join(', ')}`);
    const body = base64ToBytes(type, req.body.body);
    const bad: string[] = [];
    if (!type.isValid(body, { errorHook: (p) => bad.push(p.join('.') || '<root>') })) {
      throw new BadRequestError('DBB_EVENT_INVALID', `body does not match ${req.params.name} at ${bad.join(', ')}`);
    }
    const meta = await deps.appender.append(req.params.name as EventName, req.body.key, body as never, { actor: actorOf(req), correlationId: req.body.correlationId });
    return reply.code(202).send({ eventId: meta.eventId, correlationId: meta.correlationId, topic: catalog.get(req.params.name).topic });
  });
};

/** JSON has no bytes: base64 strings become Buffers wherever the schema says `bytes`. */
function base64ToBytes(type: avro.Type, value: unknown): unknown {
  const t = type as any;
  switch (t.typeName) {
    case 'bytes': return typeof value === 'string' ? Buffer.from(value, 'base64') : value;
    case 'record': {
      if (!value || typeof value !== 'object') return value;
      const out: Record<string, unknown> = { ...(value as Record<string, unknown>) };
      for (const f of t.fields) if (f.name in out) out[f.name] = base64ToBytes(f.type, out[f.name]);
      return out;
    }
    case 'array': return Array.isArray(value) ? value.map((v) => base64ToBytes(t.itemsType, v)) : value;
    case 'map': return value && typeof value === 'object' ? Object.fromEntries(Object.entries(value).map(([k, v]) => [k, base64ToBytes(t.valuesType, v)])) : value;
    case 'union:unwrapped': case 'union:wrapped': {
      if (value === null) return value;
      const names = (t.types as avro.Type[]).map((b) => b.typeName);
      if (typeof value === 'string' && names.includes('string')) return value;
      const branch = (t.types as avro.Type[]).find((b) => b.typeName !== 'null');
      return branch ? base64ToBytes(branch, value) : value;
    }
    default: return value;
  }
}

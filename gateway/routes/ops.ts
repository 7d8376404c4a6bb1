// Read-only ops views for operators (the console's Ops page): consumer lag, DLQ counts and the last
// dead letters, replay progress, all from platform/inspect.ts. Appends no events; opens Kafka admin
// connections only when one of these routes is called, so every other gateway pays nothing for it.
import { Type } from '@sinclair/typebox';
import { BadRequestError } from '../../platform/errors.ts';
import { consumerLag, dlqCounts, lastDeadLetters, replayProgress } from '../../platform/inspect.ts';
import type { RoutePlugin } from '../types.ts';

export const opsRoutes: RoutePlugin = async (app, deps) => {
  const operator = deps.auth.require('operator');

  app.get('/api/v1/ops/lag', {
    onRequest: operator,
    schema: { tags: ['console'], summary: 'Consumer lag per group (log end minus the offsets stored with each consumer\'s state)', response: { 200: Type.Object({ groups: Type.Array(Type.Object({ group: Type.String(), lag: Type.Integer() })) }) } },
  }, async () => ({ groups: await consumerLag(deps) }));

  app.get('/api/v1/ops/dlq', {
    onRequest: operator,
    schema: { tags: ['console'], summary: 'Dead letters per .dlq topic', response: { 200: Type.Object({ topics: Type.Array(Type.Object({ topic: Type.String(), events: Type.Integer() })) }) } },
  }, async () => ({ topics: await dlqCounts(deps.config) }));

  app.get('/api/v1/ops/dlq/last', {
    onRequest: operator,
    schema: {
      tags: ['console'], summary: 'The last dead letters of one .dlq topic, newest first, with their error headers',
      querystring: Type.Object({ topic: Type.String({ pattern: '^dbb\\.[a-z0-9_.-]+\\.dlq$', maxLength: 200 }), limit: Type.Integer({ minimum: 1, maximum: 100, default: 10 }) }),
    },
  }, async (req) => {
    const letters = await lastDeadLetters(deps.config, req.query.topic, req.query.limit);
    if (!letters) throw new BadRequestError('DBB_CONSOLE_TOPIC_NOT_FOUND', `no topic ${req.query.topic}`);
    return { topic: req.query.topic, letters };
  });

  app.get('/api/v1/ops/replays', {
    onRequest: operator,
    schema: { tags: ['console'], summary: 'Projection replays in progress (events applied into the shadow schema / log end)', response: { 200: Type.Object({ replays: Type.Array(Type.Object({ projection: Type.String(), schema: Type.String(), done: Type.Integer(), total: Type.Integer() })) }) } },
  }, async () => ({ replays: await replayProgress(deps) }));
};

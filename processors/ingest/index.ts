// processor.ingest: consumes dbb.ingest.files, queues moved files and reruns (IngestQueued = PENDING),
// runs each queued attempt once through ctx.runEffect and appends IngestAttempted. Wiring only.
import { fileURLToPath } from 'node:url';
import { TOPIC } from '../../schemas/generated/index.ts';
import type { ConsumerSpec, DomainDeps, HandlerContext } from '../../platform/types.ts';
import { loadIngestConfig, ingesterOf, type IngestConfig } from './config.ts';
import { createPlugin, Limiter, type IngestPlugin } from './plugins/index.ts';
import { attemptOutcome, decide, evolve, initialState, type FileState, type IngestEffect } from './rules.ts';
import { isIngestEvent, type IngestEvent } from './status.ts';
import { reconcileIngest, runIngest, type IngestEffectDeps } from './effects.ts';

export const NAME = 'processor.ingest';

async function loadState(ctx: HandlerContext, fileId: string): Promise<FileState> {
  const { rows } = await ctx.tx.query('SELECT state FROM file_state WHERE file_id = $1', [fileId]);
  return (rows[0]?.state as FileState) ?? initialState();
}

async function saveState(ctx: HandlerContext, fileId: string, state: FileState) {
  await ctx.tx.query(
    `INSERT INTO file_state (file_id, state, updated_at) VALUES ($1, $2, now())
     ON CONFLICT (file_id) DO UPDATE SET state = EXCLUDED.state, updated_at = now()`,
    [fileId, JSON.stringify(state)],
  );
}

export function createIngestProcessor(deps: DomainDeps, opts: { config?: IngestConfig; plugin?: IngestPlugin } = {}): ConsumerSpec {
  const ingester = ingesterOf(opts.config ?? loadIngestConfig(deps.env));
  const databaseUrl = opts.config?.database?.engine ?? deps.config.databaseUrl;
  let effectDeps: IngestEffectDeps | null = null;
  const effects = () => (effectDeps ??= {
    plugin: opts.plugin ?? createPlugin(ingester.plugin.name, ingester.plugin.config, { databaseUrl }),
    limiter: new Limiter(ingester.concurrency),
    now: () => performance.now(),
  });

  async function attempt(effect: IngestEffect, ctx: HandlerContext) {
    const outcome = await ctx.runEffect(effect.effectId, () => runIngest(effect, effects()));
    const result = outcome.status === 'DONE' ? outcome.result : await reconcileIngest(effect, effects());
    if (outcome.status === 'UNKNOWN') ctx.log.warn({ fileId: effect.fileId, attempt: effect.attempt, status: result.status }, 'ingest attempt interrupted by a crash; reconciled');
    await ctx.emit('IngestAttempted', effect.fileId, attemptOutcome(effect, result));
  }

  return {
    name: NAME,
    kind: 'processor',
    topics: [TOPIC.INGEST_FILES],
    migrationsDir: fileURLToPath(new URL('./migrations', import.meta.url)),
    async handle(event, ctx) {
      if (!isIngestEvent(event)) return;
      const input = { name: event.name, value: event.value } as IngestEvent;
      if (input.name === 'FileDiscovered' || input.name === 'DuplicateFound') return; // no status, no decision: skip the state read
      const fileId = input.value.fileId;
      const state = await loadState(ctx, fileId);
      const outputs = decide(input, state, { now: event.meta.occurredAt, eventId: event.meta.eventId, plugin: ingester.plugin.name });
      for (const o of outputs) {
        if (o.kind === 'emit') await ctx.emit(o.event.name, fileId, o.event.body as never);
        else if (o.kind === 'effect') await attempt(o.effect, ctx);
        else if (o.reason !== 'no-decision') ctx.log.debug({ fileId, event: event.name, reason: o.reason }, 'ignored');
      }
      const next = evolve(state, input);
      if (next !== state) await saveState(ctx, fileId, next);
    },
  };
}

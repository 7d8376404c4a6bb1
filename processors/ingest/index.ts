// processor.ingest: consumes dbb.ingest.files; for a moved file or a rerun it appends IngestQueued
// (PENDING), runs the attempt once through ctx.runEffect and appends IngestAttempted. Its own outputs
// are evolved into the state as they are emitted and skipped when they come back. Wiring only.
import { fileURLToPath } from 'node:url';
import { TOPIC } from '../../schemas/generated/index.ts';
import type { BodyOf, ConsumerSpec, DomainDeps, HandlerContext } from '../../platform/types.ts';
import { loadIngestConfig, ingesterOf, type IngestConfig } from '../../domains/ingest/config.ts';
import { createPlugin, type IngestPlugin } from './plugins/index.ts';
import { attemptOutcome, decide, evolve, initialState, type FileState, type IngestEffect } from './rules.ts';
import { isIngestEvent, type IngestEvent } from '../../domains/ingest/status.ts';
import { reconcileIngest, runIngest, type IngestEffectDeps } from './effects.ts';
import { Limiter } from '../../platform/limiter.ts';

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
    return attemptOutcome(effect, result);
  }

  return {
    name: NAME,
    kind: 'processor',
    topics: [TOPIC.INGEST_FILES],
    migrationsDir: fileURLToPath(new URL('./migrations', import.meta.url)),
    async handle(event, ctx) {
      if (!isIngestEvent(event)) return;
      // status-less finder events and our own outputs (already evolved when emitted) need no state read
      if (event.name === 'FileDiscovered' || event.name === 'DuplicateFound' || event.name === 'IngestQueued' || event.name === 'IngestAttempted') return;
      const input = { name: event.name, value: event.value } as IngestEvent;
      const fileId = input.value.fileId;
      const before = await loadState(ctx, fileId);
      const outputs = decide(input, before, { now: event.meta.occurredAt, eventId: event.meta.eventId, plugin: ingester.plugin.name });
      let state = evolve(before, input);
      const emit = async <N extends 'IngestQueued' | 'IngestAttempted'>(name: N, body: BodyOf<N>) => {
        const meta = await ctx.emit(name, fileId, body);
        state = evolve(state, { name, value: { ...body, meta } } as unknown as IngestEvent);
      };
      for (const o of outputs) {
        if (o.kind === 'emit') await emit(o.event.name, o.event.body);
        else if (o.kind === 'effect') await emit('IngestAttempted', await attempt(o.effect, ctx));
        else if (o.reason !== 'no-decision') ctx.log.debug({ fileId, event: event.name, reason: o.reason }, 'ignored');
      }
      if (state !== before) await saveState(ctx, fileId, state);
    },
  };
}

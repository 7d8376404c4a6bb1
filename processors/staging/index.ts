// Wiring of the staging processor: consumes dbb.staging.requests, runs each StagingRequested's
// effect through ctx.runEffect (reconciling an UNKNOWN outcome) and emits FileStaged/StagingFailed.
// Rules live in rules.ts, side effects in effects.ts; nothing here decides anything.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { InvalidEventError } from '../../platform/errors.ts';
import { is, type ConsumerSpec, type DomainDeps, type HandlerContext } from '../../platform/types.ts';
import { TOPIC } from '../../schemas/generated/index.ts';
import { loadStagingConfig, type StagingConfig } from './config.ts';
import { EFFECTS, reconcile, type EffectDeps, type EffectResult } from './effects.ts';
import { decide, evolve, initialState, type Output, type RuleContext, type StagingInput, type StagingState } from './rules.ts';

export const NAME = 'processor.staging';

async function loadState(ctx: HandlerContext, requestId: string): Promise<StagingState> {
  const { rows } = await ctx.tx.query('SELECT state FROM staging_state WHERE request_id = $1', [requestId]);
  return (rows[0]?.state as StagingState) ?? initialState();
}

async function saveState(ctx: HandlerContext, requestId: string, state: StagingState): Promise<void> {
  await ctx.tx.query(
    `INSERT INTO staging_state (request_id, state) VALUES ($1, $2)
     ON CONFLICT (request_id) DO UPDATE SET state = EXCLUDED.state, updated_at = now()`,
    [requestId, JSON.stringify(state)],
  );
}

export function createStagingProcessor(deps: DomainDeps, opts: { cfg?: StagingConfig } = {}): ConsumerSpec {
  const cfg = opts.cfg ?? loadStagingConfig(deps.env);
  const effectDeps: EffectDeps = { cfg, now: Date.now };

  return {
    name: NAME,
    kind: 'processor',
    topics: [TOPIC.STAGING_REQUESTS],
    migrationsDir: join(dirname(fileURLToPath(import.meta.url)), 'migrations'),
    async handle(event, ctx) {
      if (!is(event, 'StagingRequested')) return; // our own outcomes share the topic
      const v = event.value;
      if (!v.requestId || v.requestId !== event.key) throw new InvalidEventError(`StagingRequested key ${event.key} != requestId ${v.requestId}`);
      const rctx: RuleContext = { now: event.meta.occurredAt, allowedMethods: cfg.allowedMethods, storageRoot: cfg.storageRoot };
      let state = await loadState(ctx, v.requestId);
      const queue: Output[] = decide({ type: 'StagingRequested', value: v }, state, rctx);
      if (queue[0]?.kind !== 'ignore') state = evolve(state, { name: 'StagingRequested', value: v });
      while (queue.length) {
        const out = queue.shift()!;
        if (out.kind === 'ignore') {
          ctx.log.debug({ requestId: v.requestId, reason: out.reason }, 'staging input ignored');
        } else if (out.kind === 'emit') {
          await ctx.emit(out.event.name, v.requestId, out.event.value as never);
          state = evolve(state, out.event);
        } else {
          const outcome = await ctx.runEffect<EffectResult>(out.effectId, () => EFFECTS[out.effect.kind](out.effect, effectDeps));
          let input: StagingInput;
          if (outcome.status === 'DONE') input = { type: 'EffectCompleted', effect: out.effect, result: outcome.result };
          else {
            ctx.log.warn({ requestId: v.requestId, effectId: out.effectId }, 'staging effect outcome unknown after a crash; reconciling');
            input = { type: 'EffectReconciled', effect: out.effect, result: await reconcile(out.effect, effectDeps) };
          }
          queue.push(...decide(input, state, rctx));
        }
      }
      await saveState(ctx, v.requestId, state);
    },
  };
}

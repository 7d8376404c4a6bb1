// Handling of one dbb.tape.jobs event inside the batch transaction: loads the job state (store.ts),
// asks rules.decide, persists what it emits, and runs the effects (effects.ts) whose outcomes feed back
// into the rules. No rules here.
import type { DecodedEvent, HandlerContext } from '../../platform/types.ts';
import type { TapeConfig } from '../../domains/tape/config.ts';
import * as fx from './effects.ts';
import {
  acceptedFiles, afterBatchStage, afterCallback, afterCancel, afterLookup, decide, dueCallback, evolve, isAccepted, rescheduled,
  type Job, type Output, type RetryPolicy, type RuleContext, type TapeEffect, type TapeInput, type TapeState, type TapeView,
} from './rules.ts';
import { claimJobId, dueCallbacks, forgetPositions, jobFiles, jobIdAccepted, loadJob, loadJobFiles, markFiles, overdueJobs, saveJob } from './store.ts';
import { jobKey } from '../../domains/tape/ids.ts';

const NO_RETRY: RetryPolicy = { rounds: 0, firstDelayMs: 1, maxDelayMs: 1, windowMs: 0 };

export async function handleTape(event: DecodedEvent, ctx: HandlerContext, cfg: TapeConfig, deps: fx.EffectDeps, retry: RetryPolicy = NO_RETRY) {
  const input = event as unknown as TapeInput;
  const rc: RuleContext = { now: event.meta.occurredAt, eventId: event.meta.eventId, jobTimeoutMs: cfg.jobTimeoutS * 1000, maxFiles: cfg.maxFiles };
  const run = new Run(input, event, ctx, rc, cfg, deps, retry);
  if (input.name === 'TapeJobTimeoutChecked') {
    for (const jobId of await overdueJobs(ctx.tx, rc.now)) {
      const job = await loadJob(ctx.tx, jobId);
      await run.apply(decide(input, { job }, rc), job);
    }
    // due redeliveries of the long retry schedule, same delivery id (one POST each: the tick batch stays short)
    for (const jobId of await dueCallbacks(ctx.tx, rc.now, cfg.callbackRoundsPerTick)) {
      const job = await loadJob(ctx.tx, jobId);
      await run.apply(dueCallback(job, rc.now), job);
    }
    return;
  }
  if (input.name === 'TapeFilesStaged') {
    const v = input.value;
    const jf = await loadJobFiles(ctx.tx, v.jobId, [...v.staged, ...v.failed.map((f) => f.file)]);
    const outputs = decide(input, { job: jf.job, files: jf.files }, rc);
    if (!isAccepted(outputs)) { await run.apply(outputs, jf.job); return; }
    const a = acceptedFiles(v, jf.files);
    // the state moves by the accepted files only
    const job = evolve(jf.job, { name: input.name, value: { ...v, staged: a.staged, failed: a.failed } }) as Job;
    await markFiles(ctx.tx, jf, job, [...a.staged.map((file) => ({ file, to: 'READY' as const })), ...a.failed.map(({ file }) => ({ file, to: 'ERROR' as const }))]);
    await run.apply(outputs, job);
    return;
  }
  const job = await loadJob(ctx.tx, input.value.jobId);
  const view: TapeView = { job };
  if (input.name === 'TapeJobRequested' && job.status === 'NONE') view.holdsId = await claimJobId(ctx.tx, input.value.jobId, event.meta.eventId);
  if (input.name === 'TapeJobCancelRequested' && job.status === 'NONE') view.reserved = await jobIdAccepted(ctx.tx, input.value.jobId);
  const outputs = decide(input, view, rc);
  await run.apply(outputs, job);
}

/** Applies one input's outputs: emitted events evolve and persist the state, effects run and feed their follow-up outputs. */
class Run {
  constructor(
    private input: TapeInput, private event: DecodedEvent, private ctx: HandlerContext, private rc: RuleContext,
    private cfg: TapeConfig, private deps: fx.EffectDeps, private retry: RetryPolicy,
  ) {}

  async apply(outputs: Output[], state: TapeState): Promise<TapeState> {
    for (const o of outputs) {
      if (o.kind === 'ignore') {
        this.ctx.log.debug({ event: this.input.name, reason: o.reason }, 'tape input ignored');
      } else if (o.kind === 'reschedule') {
        this.ctx.log.warn({ jobId: o.jobId, nextAt: new Date(o.nextAt).toISOString(), round: o.rounds, attempts: o.attempts, error: o.error }, 'callback delivery failed; retrying later with the same delivery id');
        state = rescheduled(state as Job, o);
        await saveJob(this.ctx.tx, state as Job);
      } else if (o.kind === 'emit') {
        const meta = await this.ctx.emit(o.name, o.key, o.body as any);
        const next = evolve(state, { name: o.name, value: { meta, ...(o.body as any) } });
        if (next === state) continue; // a refusal (TapeJobCancelFailed) changes no state
        state = next;
        await saveJob(this.ctx.tx, state as Job, o.name === 'TapeJobCreated' ? (o.body as { files: string[] }).files : undefined);
        if (state.status !== 'STAGING') forgetPositions((state as Job).jobId);
      } else {
        state = await this.apply(await this.effect(o.effect, state as Job), state);
      }
    }
    return state;
  }

  private async effect(e: TapeEffect, job: Job): Promise<Output[]> {
    const { ctx, deps } = this;
    switch (e.kind) {
      case 'lookupFiles': {
        if (this.input.name !== 'TapeJobRequested') return [];
        // a read: safe to repeat after a crash, so it needs no effect ledger
        return afterLookup(this.input.value, await fx.lookupFiles(e.obs, deps), this.rc);
      }
      case 'batchStage': {
        const key = jobKey(e.jobId);
        const o = await ctx.runEffect(`tape.batchstage:${e.jobId}`, () => fx.batchStage(key, e.files, deps));
        let result = o.status === 'DONE' ? o.result : null;
        if (!result) {
          // crashed mid-call: batchstage is idempotent on the job key, so resubmitting reconciles
          ctx.log.warn({ jobId: e.jobId }, 'batchstage outcome unknown after a crash; resubmitting');
          result = await fx.batchStage(key, e.files, deps, true);
        }
        return afterBatchStage(job, result, this.cfg.failedBatchstageCode);
      }
      case 'cancelStage': {
        const files = await jobFiles(ctx.tx, e.jobId);
        const key = jobKey(e.jobId);
        const o = await ctx.runEffect(`tape.cancel:${e.jobId}`, () => fx.cancelStage(key, files, deps));
        const result = o.status === 'DONE' ? o.result : await fx.cancelStage(key, files, deps);
        if (!result.ok) ctx.log.warn({ jobId: e.jobId, error: result.error }, 'cancelbatchstage failed; job cancelled here anyway');
        return afterCancel(job);
      }
      case 'deliverCallback': {
        const cbDeps = e.scheduled ? { ...deps, callback: { ...deps.callback, attempts: 1 } } : deps;
        const send = () => fx.deliverCallback(e.notifyUrl, e.deliveryId, e.body, cbDeps);
        const o = await ctx.runEffect(`tape.callback:${e.deliveryId}:${this.event.meta.eventId}`, send);
        let result = o.status === 'DONE' ? o.result : null;
        if (!result) {
          // crashed mid-delivery: resend with the same Idempotency-Key so the receiver drops a duplicate
          ctx.log.warn({ jobId: e.jobId, deliveryId: e.deliveryId }, 'callback outcome unknown after a crash; resending with the same Idempotency-Key');
          result = await send();
        }
        // the schedule's clock is the wall clock when the attempt ended (the input's time may be long past)
        return afterCallback(job, result, { now: (deps.now ?? Date.now)(), policy: this.retry });
      }
    }
  }
}

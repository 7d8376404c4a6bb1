// The tape processor's handler: loads the jobs of a batch (store.ts), runs dbb.tape.jobs events through
// the rules in the one decider loop (platform/decider.ts), carries out the effects (effects.ts; the job-id
// claims in the batch transaction) and saves the changed jobs. A tick becomes one input per job it
// concerns (overdue, or a callback redelivery due); a notification batch loads only the files it names.
import type pg from 'pg';
import { deciderLoop, type Keyed } from '../../platform/decider.ts';
import { InvalidEventError } from '../../platform/errors.ts';
import type { DecodedEvent, HandlerContext } from '../../platform/types.ts';
import type { TapeConfig } from '../../domains/tape/config.ts';
import * as fx from './effects.ts';
import { decide, evolveInput, evolveView, react, TAPE_EVENTS, updateView, type OutcomeEvent, type Reschedule, type RetryPolicy, type RuleContext, type TapeEffect, type TapeEvent, type TapeInput, type TapeView } from './rules.ts';
import { reconcileFiles } from './reconcile.ts';
import { claimJobId, dueCallbacks, pendingFiles, quietJobs, readyFiles, fileStatuses, forgetPositions, jobFiles, jobIdAccepted, loadJobs, markedFileState, overdueJobs, saveJob } from './store.ts';
import { jobKey } from '../../domains/tape/ids.ts';

const NO_RETRY: RetryPolicy = { rounds: 0, firstDelayMs: 1, maxDelayMs: 1, windowMs: 0 };

/** The rules' view of a job plus what the save needs: the status bytes of its files as loaded. */
type JobView = TapeView & { fileState: Buffer | null };

const isTapeEvent = (e: DecodedEvent): boolean => (TAPE_EVENTS as readonly string[]).includes(e.name);

/** The inputs of an event: one for its job; a tick, one per overdue job, then one per job whose
 *  scheduled callback redelivery is due (a bounded number per tick: the tick batch stays short). */
async function inputsOf(event: DecodedEvent, tx: pg.PoolClient, cfg: TapeConfig): Promise<Keyed<TapeInput>[]> {
  if (!isTapeEvent(event)) throw new InvalidEventError(`tape rules cannot handle ${event.name}`);
  const input = { name: event.name, value: event.value } as TapeEvent;
  if (input.name === 'TapeJobTimeoutChecked') {
    const now = event.meta.occurredAt;
    const overdue = (await overdueJobs(tx, now)).map((id) => ({ key: jobKey(id), input }));
    const due = (await dueCallbacks(tx, now, cfg.callbackRoundsPerTick)).map((id) => ({ key: jobKey(id), input: { name: 'CallbackDue' as const, value: input.value } }));
    const quiet = (await quietJobs(tx, now - cfg.quietPeriodS * 1000, cfg.reconcilePerTick)).map((id) => ({ key: jobKey(id), input: { name: 'ReconcileDue' as const, value: input.value } }));
    return [...overdue, ...due, ...quiet];
  }
  return [{ key: jobKey(input.value.jobId), input }];
}

async function loadViews(tx: pg.PoolClient, keys: string[], inputs: ReadonlyMap<string, readonly TapeInput[]>): Promise<Map<string, JobView>> {
  const stored = await loadJobs(tx, keys.map(Number));
  const views = new Map<string, JobView>();
  for (const key of keys) {
    const { job, fileState } = stored.get(Number(key))!;
    const names = (inputs.get(key) ?? []).flatMap((i) => (i.name === 'TapeFilesStaged' || i.name === 'TapeFilesReconciled' ? [...i.value.staged, ...i.value.failed.map((f) => f.file)] : []));
    views.set(key, { job, fileState, ...(names.length ? { files: await fileStatuses(tx, Number(key), fileState, names) } : {}) });
  }
  return views;
}

async function saveViews(tx: pg.PoolClient, views: Map<string, JobView>): Promise<void> {
  for (const [key, v] of views) {
    if (v.job.status === 'NONE') continue;
    const fileState = v.files ? await markedFileState(tx, Number(key), v.fileState, v.files) : null;
    await saveJob(tx, v.job, v.created, fileState);
    if (v.job.status !== 'STAGING') forgetPositions(v.job.jobId);
  }
}

/** Carries out one effect and returns its result as the next input. */
async function perform(e: TapeEffect, ctx: HandlerContext, event: DecodedEvent, cfg: TapeConfig, deps: fx.EffectDeps): Promise<TapeInput> {
  switch (e.kind) {
    case 'claimJobId':
      return { name: 'JobIdClaimed', effect: e, holds: await claimJobId(ctx.tx, e.request.jobId, event.meta.eventId) };
    case 'checkReserved':
      return { name: 'ReservationChecked', effect: e, reserved: await jobIdAccepted(ctx.tx, e.jobId) };
    case 'lookupFiles':
      // a read: safe to repeat after a crash, so it needs no effect ledger
      return { name: 'FilesLookedUp', effect: e, result: await fx.lookupFiles(e.obs, deps) };
    case 'batchStage': {
      const key = jobKey(e.jobId);
      const o = await ctx.runEffect(`tape.batchstage:${e.jobId}`, () => fx.batchStage(key, e.files, deps));
      let result = o.status === 'DONE' ? o.result : null;
      if (!result) {
        // crashed mid-call: batchstage is idempotent on the job key, so resubmitting reconciles
        ctx.log.warn({ jobId: e.jobId }, 'batchstage outcome unknown after a crash; resubmitting');
        result = await fx.batchStage(key, e.files, deps, true);
      }
      return { name: 'BatchStageDone', effect: e, result };
    }
    case 'cancelStage': {
      const files = await jobFiles(ctx.tx, e.jobId);
      const key = jobKey(e.jobId);
      const o = await ctx.runEffect(`tape.cancel:${e.jobId}`, () => fx.cancelStage(key, files, deps));
      const result = o.status === 'DONE' ? o.result : await fx.cancelStage(key, files, deps);
      if (!result.ok) ctx.log.warn({ jobId: e.jobId, error: result.error }, 'cancelbatchstage failed; job cancelled here anyway');
      return { name: 'CancelStageDone', effect: e };
    }
    case 'reconcileFiles': {
      // reads, and a batchstage idempotent on the job key: safe to repeat after a crash, no effect ledger
      const files = await pendingFiles(ctx.tx, e.jobId, cfg.reconcileMaxFiles);
      const result = await reconcileFiles(jobKey(e.jobId), files, deps, cfg.filestatusConcurrency);
      if (!result.ok) ctx.log.warn({ jobId: e.jobId, error: result.error }, 'reconcile: the library did not answer; asking again after the quiet period');
      else ctx.log.info({ jobId: e.jobId, staged: result.staged.length, failed: result.failed.length, pending: result.pending }, 'reconciled a quiet job with the library');
      return { name: 'FilesReconciled', effect: e, result };
    }
    case 'releaseFiles': {
      // idempotent at the library (a released file is just offline): no effect ledger
      const files = await readyFiles(ctx.tx, e.jobId);
      try {
        if (files.length) await deps.scout.release(files, jobKey(e.jobId));
        return { name: 'FilesReleased', effect: e, result: { ok: true, files } };
      } catch (err) {
        return { name: 'FilesReleased', effect: e, result: { ok: false, error: (err as Error).message } };
      }
    }
    case 'deliverProgress': {
      const send = () => fx.deliverCallback(e.notifyUrl, e.deliveryId, e.body, deps);
      // once: DONE in the ledger is never sent again; a crash mid-POST resends with the same Idempotency-Key
      const o = await ctx.runEffect(`tape.progress:${e.deliveryId}`, send);
      const result = o.status === 'DONE' ? o.result : await send();
      if (!result.ok) ctx.log.warn({ jobId: e.jobId, deliveryId: e.deliveryId, error: result.error }, 'PROGRESS callback failed (not retried later: the final callback is what counts)');
      return { name: 'ProgressDone', effect: e, result };
    }
    case 'deliverCallback': {
      const cbDeps = e.scheduled ? { ...deps, callback: { ...deps.callback, attempts: 1 } } : deps;
      const send = () => fx.deliverCallback(e.notifyUrl, e.deliveryId, e.body, cbDeps);
      const o = await ctx.runEffect(`tape.callback:${e.deliveryId}:${event.meta.eventId}`, send);
      let result = o.status === 'DONE' ? o.result : null;
      if (!result) {
        // crashed mid-delivery: resend with the same Idempotency-Key so the receiver drops a duplicate
        ctx.log.warn({ jobId: e.jobId, deliveryId: e.deliveryId }, 'callback outcome unknown after a crash; resending with the same Idempotency-Key');
        result = await send();
      }
      if (!result.ok) ctx.log.warn({ jobId: e.jobId, deliveryId: e.deliveryId, attempts: result.attempts, error: result.error, final: !!result.final }, 'callback delivery failed');
      // the schedule's clock is the wall clock when the attempt ended (the input's time may be long past)
      return { name: 'CallbackDone', effect: e, result, now: (deps.now ?? Date.now)() };
    }
  }
}

/** The tape processor's handler: the rules around the one decider loop. */
export function tapeHandler(cfg: TapeConfig, deps: fx.EffectDeps, retry: RetryPolicy = NO_RETRY) {
  return deciderLoop<JobView, TapeInput, OutcomeEvent, TapeEffect, RuleContext, Reschedule>({
    decider: { decide, evolve: evolveView, evolveInput, update: updateView, react },
    inputOf: (event, tx) => inputsOf(event, tx, cfg),
    load: loadViews,
    save: saveViews,
    context: (event) => ({
      now: event.meta.occurredAt, eventId: event.meta.eventId, jobTimeoutMs: cfg.jobTimeoutS * 1000, maxFiles: cfg.maxFiles,
      failedBatchstageCode: cfg.failedBatchstageCode, retry, quietMs: cfg.quietPeriodS * 1000, progressDefault: cfg.progressPercent,
    }),
    perform: (effect, ctx, event) => perform(effect, ctx, event, cfg, deps),
  });
}

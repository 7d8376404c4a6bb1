// Pure rules of tape staging jobs: decide(input, view, ctx) → append | effect | update | ignore, and evolve.
// A job is created from a file list or an obs lookup, staged by batchstage, completed when every
// file is ready or errored (or on timeout), and its result is POSTed to notify_url (seed: kafkad).
// The inputs are the events of dbb.tape.jobs (a tick once per job it concerns) and the results of
// the effects the rules asked for.
import type { Output as DeciderOutput } from '../../platform/decider.ts';
import { InvalidEventError } from '../../platform/errors.ts';
import type { BodyOf, EventMap, EventName, Meta } from '../../platform/types.ts';
import { deliveryIdOf } from '../../domains/tape/ids.ts';

/** Seed return codes of the callback. */
export const RC = { SUCCESS: 0, TIMEOUT: 10, LOOKUP_FAILED: 100, NO_FILES: 101, CREATE_EXCEPTION: 199 } as const;

export type JobStatus = 'STAGING' | 'COMPLETED' | 'FAILED' | 'CANCELLED';
export type CallbackStatus = 'NONE' | 'PENDING' | 'DELIVERED' | 'FAILED';
export type FileStatus = 'PENDING' | 'READY' | 'ERROR';

export interface Job {
  status: JobStatus;
  jobId: number;
  notifyUrl: string;
  total: number;
  ready: number;
  error: number;
  deadline: number;
  submitted: boolean;
  returnCode: number | null;
  comment: string;
  callback: CallbackStatus;
  deliveryId: string | null;
  /** Retry schedule of a pending delivery whose in-batch attempts failed (processor state only, no event):
   *  the next attempt is due at callbackNextAt (the tick triggers it); rounds so far, POSTs so far, and
   *  when the first attempt of this schedule failed. Reset when the delivery ends. */
  callbackNextAt: number | null;
  callbackRounds: number;
  callbackAttempts: number;
  callbackSince: number | null;
  /** when the library was last heard about this job (submitted, a notification that counted, a
   *  reconcile), ms: after TAPE_QUIET_PERIOD_S of silence the processor asks the library (reconcile) */
  lastHeardAt: number | null;
  /** the first failed file and the library's reason, for the completion comment */
  firstError: string | null;
  /** percentages of files done at which a PROGRESS callback goes out (ascending), and the highest passed */
  progress: number[];
  progressSent: number;
}
export type TapeState = { status: 'NONE' } | Job;
export const initialState = (): TapeState => ({ status: 'NONE' });

/** Legal job status changes; 'NONE' is a job the processor has never created. */
export const TRANSITIONS: Record<TapeState['status'], readonly JobStatus[]> = {
  // NONE → CANCELLED: a job cancelled while its accepted request was still queued (a tombstone)
  NONE: ['STAGING', 'FAILED', 'CANCELLED'],
  STAGING: ['STAGING', 'COMPLETED', 'CANCELLED'],
  COMPLETED: ['COMPLETED', 'CANCELLED'],
  FAILED: ['FAILED', 'CANCELLED'],
  CANCELLED: ['CANCELLED'],
};

type Ev<N extends EventName> = { name: N; value: EventMap[N] };
/** The events of dbb.tape.jobs (TapeJobTimeoutChecked once per overdue job). */
export const TAPE_EVENTS = [
  'TapeJobRequested', 'TapeJobCreated', 'TapeJobCreationFailed', 'TapeJobStageSubmitted', 'TapeFilesStaged', 'TapeJobCompleted',
  'TapeJobCancelRequested', 'TapeJobCancelled', 'TapeJobCancelFailed', 'TapeJobTimeoutChecked', 'TapeCallbackDelivered',
  'TapeCallbackFailed', 'TapeCallbackRerunRequested', 'TapeFilesReconciled', 'TapeFilesReleaseRequested', 'TapeFilesReleased',
  'TapeFilesReleaseFailed', 'TapeJobProgressed',
] as const;
export type TapeEvent = { [N in (typeof TAPE_EVENTS)[number]]: Ev<N> }[(typeof TAPE_EVENTS)[number]];
export type TapeInput =
  | TapeEvent
  /** a tick, once per job whose scheduled callback redelivery may be due */
  | { name: 'CallbackDue'; value: EventMap['TapeJobTimeoutChecked'] }
  /** a tick, once per staging job not heard about for the quiet period */
  | { name: 'ReconcileDue'; value: EventMap['TapeJobTimeoutChecked'] }
  /** results of the effects */
  | { name: 'JobIdClaimed'; effect: Extract<TapeEffect, { kind: 'claimJobId' }>; holds: boolean }
  | { name: 'ReservationChecked'; effect: Extract<TapeEffect, { kind: 'checkReserved' }>; reserved: boolean }
  | { name: 'FilesLookedUp'; effect: Extract<TapeEffect, { kind: 'lookupFiles' }>; result: LookupResult }
  | { name: 'BatchStageDone'; effect: Extract<TapeEffect, { kind: 'batchStage' }>; result: StageResult }
  | { name: 'CancelStageDone'; effect: Extract<TapeEffect, { kind: 'cancelStage' }> }
  | { name: 'ProgressDone'; effect: Extract<TapeEffect, { kind: 'deliverProgress' }>; result: CallbackResult }
  | { name: 'FilesReleased'; effect: Extract<TapeEffect, { kind: 'releaseFiles' }>; result: { ok: true; files: string[] } | { ok: false; error: string } }
  | { name: 'FilesReconciled'; effect: Extract<TapeEffect, { kind: 'reconcileFiles' }>; result: ReconcileResult }
  /** `now`: the wall clock when the attempt ended (the input's time may be long past), the schedule's clock */
  | { name: 'CallbackDone'; effect: Extract<TapeEffect, { kind: 'deliverCallback' }>; result: CallbackResult; now: number };

export interface CallbackBody {
  job_id: number; return_code: number; total_files: number; ready_files: number; error_files: number; comment: string;
}

/** claimJobId / checkReserved read (and claim) job ids in processor_tape.job_ids, in the batch
 *  transaction: they roll back with it, so they need no effect ledger. */
export type TapeEffect =
  | { kind: 'claimJobId'; request: EventMap['TapeJobRequested'] }
  | { kind: 'checkReserved'; jobId: number }
  | { kind: 'lookupFiles'; jobId: number; obs: Record<string, unknown>; notifyUrl: string; progress?: number[] | null }
  | { kind: 'batchStage'; jobId: number; files: string[] }
  | { kind: 'cancelStage'; jobId: number }
  /** ask the library (Scout file status) about the job's still-pending files; resubmit batchstage for those still on tape */
  | { kind: 'reconcileFiles'; jobId: number }
  /** Scout release of the job's staged files (idempotent: a released file is simply offline) */
  | { kind: 'releaseFiles'; jobId: number }
  | { kind: 'deliverCallback'; jobId: number; notifyUrl: string; deliveryId: string; body: CallbackBody; scheduled?: true }
  /** one PROGRESS callback, once (its own delivery id); best effort: a failure is logged, the final callback is what counts */
  | { kind: 'deliverProgress'; jobId: number; notifyUrl: string; deliveryId: string; body: ProgressBody };

/** Body of a PROGRESS callback (ours; the seed has only the final one). */
export interface ProgressBody { job_id: number; status: 'PROGRESS'; percent: number; total_files: number; ready_files: number; error_files: number }

export type IgnoreReason =
  | 'DUPLICATE_JOB' | 'UNKNOWN_JOB' | 'JOB_NOT_STAGING' | 'UNKNOWN_FILE' | 'DUPLICATE_FILE'
  | 'ALREADY_SUBMITTED' | 'CALLBACK_DONE' | 'CALLBACK_NOT_FAILED' | 'ALREADY_CANCELLED' | 'OWN_OUTCOME' | 'PROGRESS_SENT' | 'PROGRESS_FAILED';

type OutcomeName = 'TapeJobCreated' | 'TapeJobCreationFailed' | 'TapeJobStageSubmitted' | 'TapeJobCompleted' | 'TapeJobCancelled'
  | 'TapeJobCancelFailed' | 'TapeCallbackDelivered' | 'TapeCallbackFailed' | 'TapeFilesReconciled' | 'TapeFilesReleased' | 'TapeFilesReleaseFailed' | 'TapeJobProgressed';
/** The outcome events the rules append (keyed by their job). */
export type OutcomeEvent = { [N in OutcomeName]: { name: N; value: BodyOf<N> } }[OutcomeName];
/** A failed delivery to try again at nextAt: a decided update of the job state, no event (the tick triggers it). */
export type Reschedule = { jobId: number; nextAt: number; rounds: number; attempts: number; since: number; error: string };
export type Output = DeciderOutput<OutcomeEvent, TapeEffect, Reschedule>;

export interface RuleContext {
  /** occurredAt of the input event, ms. */
  now: number;
  eventId: string;
  jobTimeoutMs: number;
  maxFiles: number;
  /** return code of a job whose batchstage failed on every node */
  failedBatchstageCode: number;
  /** long retry schedule of a failed callback delivery */
  retry: RetryPolicy;
  /** silence after which a staging job's files are reconciled with the library, ms */
  quietMs: number;
  /** TAPE_PROGRESS_PERCENT: progress percentages of a job whose request names none */
  progressDefault: number[];
}

/** The state decide sees for one job key: the job; for file notifications the status of each file they
 *  name (null: not in the job); `created`: the file list of a job created since it was loaded (written with it). */
export interface TapeView { job: TapeState; files?: ReadonlyMap<string, FileStatus | null>; created?: readonly string[] }

const emit = <N extends OutcomeName>(name: N, value: BodyOf<N>): Output => ({ kind: 'append', event: { name, value } } as Output);
const ignore = (reason: IgnoreReason): Output => ({ kind: 'ignore', reason });
const isJob = (s: TapeState): s is Job => s.status !== 'NONE';

export function decide(input: TapeInput, view: TapeView, ctx: RuleContext): Output[] {
  switch (input.name) {
    case 'TapeJobRequested': return onRequested(input.value, view);
    case 'TapeJobCreated': return onCreated(input.value, view.job);
    case 'TapeJobCreationFailed':
    case 'TapeJobCompleted': return onFinished(view.job);
    case 'TapeFilesStaged':
    case 'TapeFilesReconciled': return onFiles(input.value, view);
    case 'TapeJobCancelRequested': return onCancelRequested(input.value, view);
    case 'TapeJobTimeoutChecked': return onTick(view.job, ctx);
    case 'CallbackDue': return dueCallback(view.job, ctx.now);
    case 'ReconcileDue': return onQuiet(view.job, ctx);
    case 'TapeJobProgressed': return onProgressed(input.value, view.job);
    case 'ProgressDone': return [ignore(input.result.ok ? 'PROGRESS_SENT' : 'PROGRESS_FAILED')];
    case 'TapeFilesReleaseRequested': return onReleaseRequested(input.value.jobId, view.job);
    case 'FilesReleased': return input.result.ok
      ? [emit('TapeFilesReleased', { jobId: input.effect.jobId, files: input.result.files })]
      : [emit('TapeFilesReleaseFailed', { jobId: input.effect.jobId, reason: 'LIBRARY_ERROR', error: input.result.error })];
    case 'FilesReconciled': return isJob(view.job) ? afterReconcile(view.job, input.result) : [ignore('UNKNOWN_JOB')];
    case 'TapeCallbackRerunRequested': return onRerun(view.job);
    case 'JobIdClaimed': return input.holds ? onClaimed(input.effect.request, ctx) : [ignore('DUPLICATE_JOB')];
    case 'ReservationChecked': return onReservation(input.effect.jobId, input.reserved);
    case 'FilesLookedUp': return afterLookup(input.effect, input.result, ctx);
    case 'BatchStageDone': return isJob(view.job) ? afterBatchStage(view.job, input.result, ctx.failedBatchstageCode) : [ignore('UNKNOWN_JOB')];
    case 'CancelStageDone': return isJob(view.job) ? afterCancel(view.job) : [ignore('UNKNOWN_JOB')];
    case 'CallbackDone': return isJob(view.job) ? afterCallback(view.job, input.result, { now: input.now, policy: ctx.retry }) : [ignore('UNKNOWN_JOB')];
    case 'TapeJobStageSubmitted':
    case 'TapeJobCancelled':
    case 'TapeJobCancelFailed':
    case 'TapeCallbackDelivered':
    case 'TapeCallbackFailed':
    case 'TapeFilesReleased':
    case 'TapeFilesReleaseFailed': return [ignore('OWN_OUTCOME')];
    default: {
      const never: never = input;
      throw new InvalidEventError(`tape rules cannot handle ${(never as { name: string }).name}`);
    }
  }
}

/** A request for a job id nobody created yet first claims the id (JobIdClaimed); the request is checked before. */
function onRequested(req: EventMap['TapeJobRequested'], view: TapeView): Output[] {
  const job = view.job;
  // cancelled while queued: the tombstone keeps the request from creating the job
  if (job.status === 'CANCELLED') return [ignore('ALREADY_CANCELLED')];
  if (isJob(job)) return [ignore('DUPLICATE_JOB')];
  if (!req.files && req.obs) obsOf(req);
  return [{ kind: 'effect', effect: { kind: 'claimJobId', request: req } }];
}

function obsOf(req: EventMap['TapeJobRequested']): Record<string, unknown> {
  try { return JSON.parse(req.obs!); } catch (err) { throw new InvalidEventError('TapeJobRequested.obs is not JSON', err); }
}

/** The request holds its job id (job_ids: POST /staging reserved it for this very event, or nobody had
 *  it); otherwise the id belongs to another request (POST /staging accepts an id once; this one came another way). */
function onClaimed(req: EventMap['TapeJobRequested'], ctx: RuleContext): Output[] {
  if (req.files) return created(req.jobId, req.files, req.notifyUrl, ctx, req.progress);
  if (req.obs) return [{ kind: 'effect', effect: { kind: 'lookupFiles', jobId: req.jobId, obs: obsOf(req), notifyUrl: req.notifyUrl, progress: req.progress ?? null } }];
  return [emit('TapeJobCreationFailed', { jobId: req.jobId, returnCode: RC.NO_FILES, comment: 'neither files nor obs given', notifyUrl: req.notifyUrl })];
}

/** The outcome of the data-files lookup of an obs request. */
export type LookupResult = { ok: true; files: string[] } | { ok: false; error: string };

export function afterLookup(req: { jobId: number; notifyUrl: string; progress?: number[] | null }, result: LookupResult, ctx: RuleContext): Output[] {
  if (!result.ok) {
    return [emit('TapeJobCreationFailed', { jobId: req.jobId, returnCode: RC.LOOKUP_FAILED, comment: `file lookup failed: ${result.error}`, notifyUrl: req.notifyUrl })];
  }
  return created(req.jobId, result.files, req.notifyUrl, ctx, req.progress);
}

/** The job's progress percentages: the request's (null or absent: the configured default), 1-99, ascending, once each. */
export const progressOf = (requested: number[] | null | undefined, dflt: number[]) =>
  [...new Set((requested ?? dflt).filter((p) => Number.isInteger(p) && p >= 1 && p <= 99))].sort((a, b) => a - b);

function created(jobId: number, files: string[], notifyUrl: string, ctx: RuleContext, progress?: number[] | null): Output[] {
  const unique = [...new Set(files)];
  if (unique.length === 0) {
    return [emit('TapeJobCreationFailed', { jobId, returnCode: RC.NO_FILES, comment: 'no files to stage', notifyUrl })];
  }
  if (unique.length > ctx.maxFiles) {
    return [emit('TapeJobCreationFailed', { jobId, returnCode: RC.CREATE_EXCEPTION, comment: `job has ${unique.length} files, more than ${ctx.maxFiles}`, notifyUrl })];
  }
  return [emit('TapeJobCreated', { jobId, files: unique, notifyUrl, deadline: ctx.now + ctx.jobTimeoutMs, progress: progressOf(progress, ctx.progressDefault ?? []) })];
}

function onCreated(ev: EventMap['TapeJobCreated'], job: TapeState): Output[] {
  if (!isJob(job)) return [ignore('UNKNOWN_JOB')];
  if (job.status !== 'STAGING') return [ignore('JOB_NOT_STAGING')];
  if (job.submitted) return [ignore('ALREADY_SUBMITTED')];
  return [{ kind: 'effect', effect: { kind: 'batchStage', jobId: ev.jobId, files: ev.files } }];
}

export type StageResult = { ok: true; endpoint: string; reconciled: boolean } | { ok: false; error: string };

export function afterBatchStage(job: Job, result: StageResult, failedCode: number): Output[] {
  if (result.ok) return [emit('TapeJobStageSubmitted', { jobId: job.jobId, endpoint: result.endpoint, reconciled: result.reconciled })];
  return [completed(job, failedCode, `batchstage failed: ${result.error}`)];
}

function completed(job: Job, returnCode: number, comment: string, extra = { ready: 0, error: 0 }): Output {
  return emit('TapeJobCompleted', {
    jobId: job.jobId, returnCode, totalFiles: job.total, readyFiles: job.ready + extra.ready, errorFiles: job.error + extra.error,
    comment, notifyUrl: job.notifyUrl,
  });
}

/** The notifications of one batch that count: files of the job still PENDING, first outcome of a file wins. */
export function acceptedFiles(ev: FileOutcomes, files: ReadonlyMap<string, FileStatus | null>) {
  const seen = new Set<string>();
  const staged: string[] = [];
  const failed: { file: string; error: string }[] = [];
  let unknown = 0;
  let duplicate = 0;
  const take = (file: string) => {
    const before = files.get(file) ?? null;
    if (before === null) { unknown++; return false; }
    if (before !== 'PENDING' || seen.has(file)) { duplicate++; return false; }
    seen.add(file);
    return true;
  };
  for (const f of ev.staged) if (take(f)) staged.push(f);
  for (const f of ev.failed) if (take(f.file)) failed.push(f);
  return { staged, failed, unknown, duplicate };
}

/** A notification batch, or what a reconcile found: both count files the same way. */
type FileOutcomes = Pick<EventMap['TapeFilesStaged'], 'staged' | 'failed'>;

function onFiles(ev: FileOutcomes, view: TapeView): Output[] {
  const job = view.job;
  if (!isJob(job)) return [ignore('UNKNOWN_JOB')];
  if (job.status !== 'STAGING') return [ignore('JOB_NOT_STAGING')];
  const a = acceptedFiles(ev, view.files ?? new Map());
  // the files that count move the state (evolveInput), whatever else the batch names
  const ignored: Output[] = [...(a.unknown ? [ignore('UNKNOWN_FILE')] : []), ...(a.duplicate ? [ignore('DUPLICATE_FILE')] : [])];
  const extra = { ready: a.staged.length, error: a.failed.length };
  if (extra.ready + extra.error === 0) return ignored;
  if (job.ready + job.error + extra.ready + extra.error < job.total) return [...ignored, ...progressed(job, extra)];
  const errors = job.error + extra.error;
  const firstError = job.firstError ?? errorOf(a.failed[0]);
  const comment = errors === 0 ? `all ${job.total} files staged` : `${job.total - errors} files staged, ${errors} failed (first: ${firstError})`;
  return [...ignored, completed(job, RC.SUCCESS, comment, extra)];
}

/** One TapeJobProgressed per percentage this batch passed (the completing batch sends none: the final callback says it all). */
function progressed(job: Job, extra: { ready: number; error: number }): Output[] {
  const ready = job.ready + extra.ready;
  const error = job.error + extra.error;
  const pct = Math.floor(((ready + error) * 100) / job.total);
  return (job.progress ?? []).filter((p) => p > (job.progressSent ?? 0) && p <= pct)
    .map((percent) => emit('TapeJobProgressed', { jobId: job.jobId, percent, totalFiles: job.total, readyFiles: ready, errorFiles: error, notifyUrl: job.notifyUrl }));
}

/** Read back: POST the PROGRESS callback, unless the job is no longer staging (the final callback then says more). */
function onProgressed(ev: EventMap['TapeJobProgressed'], job: TapeState): Output[] {
  if (!isJob(job) || job.status !== 'STAGING') return [ignore('JOB_NOT_STAGING')];
  const body: ProgressBody = { job_id: ev.jobId, status: 'PROGRESS', percent: ev.percent, total_files: ev.totalFiles, ready_files: ev.readyFiles, error_files: ev.errorFiles };
  return [{ kind: 'effect', effect: { kind: 'deliverProgress', jobId: ev.jobId, notifyUrl: ev.notifyUrl, deliveryId: deliveryIdOf(ev.meta.eventId), body } }];
}

const errorOf = (f: { file: string; error: string } | undefined) => (f ? `${f.file}: ${f.error}` : null);

/** What the library said about a job's pending files (Scout file status); ok false: it did not answer. */
export type ReconcileResult =
  | { ok: true; staged: string[]; failed: { file: string; error: string }[]; pending: number; checked: number }
  | { ok: false; error: string };

/** A staging job the library has been silent about for the quiet period: ask it. */
function onQuiet(job: TapeState, ctx: RuleContext): Output[] {
  if (!isJob(job) || job.status !== 'STAGING' || !job.submitted) return [ignore('JOB_NOT_STAGING')];
  if ((job.lastHeardAt ?? 0) + ctx.quietMs > ctx.now) return [];
  return [{ kind: 'effect', effect: { kind: 'reconcileFiles', jobId: job.jobId } }];
}

/** Records what the library said; the event is then counted like a notification batch when read back.
 *  A library that did not answer is recorded as nothing found (the quiet period starts again). */
export function afterReconcile(job: Job, result: ReconcileResult): Output[] {
  if (job.status !== 'STAGING') return [ignore('JOB_NOT_STAGING')];
  const found = result.ok ? result : { staged: [], failed: [], pending: job.total - job.ready - job.error, checked: 0 };
  return [emit('TapeFilesReconciled', { jobId: job.jobId, staged: found.staged, failed: found.failed, pending: found.pending, checked: found.checked })];
}

/** DELETE /staging/files: the library releases what the job staged, in any state but removed. */
function onReleaseRequested(jobId: number, job: TapeState): Output[] {
  if (!isJob(job) || job.status === 'CANCELLED') return [emit('TapeFilesReleaseFailed', { jobId, reason: 'NOT_FOUND', error: '' })];
  return [{ kind: 'effect', effect: { kind: 'releaseFiles', jobId } }];
}

function onFinished(job: TapeState): Output[] {
  if (!isJob(job)) return [ignore('UNKNOWN_JOB')];
  if (job.status === 'CANCELLED') return [ignore('ALREADY_CANCELLED')];
  // delivered, failed, or tried in the completing batch and scheduled for the tick (react below)
  if (job.callback !== 'PENDING' || !job.deliveryId || job.callbackNextAt !== null) return [ignore('CALLBACK_DONE')];
  return [deliver(job)];
}

/** A job completed by its notifications gets its callback in the batch that completed it: the last
 *  notification's path skips a hop (outbox relay → Kafka → fetch → another transaction). The delivery
 *  id derives from the completion's id, so a batch redone after a crash finds the delivery in the effects
 *  ledger. Timeouts (decided on the tick, maybe many at once) and creation failures deliver when read back. */
export function react<V extends TapeView>(view: V, event: OutcomeEvent): Output[] {
  if (event.name !== 'TapeJobCompleted' || event.value.returnCode !== RC.SUCCESS || !isJob(view.job)) return [];
  return [deliver(view.job)];
}

function deliver(job: Job, scheduled = false): Output {
  return {
    kind: 'effect',
    effect: {
      kind: 'deliverCallback', jobId: job.jobId, notifyUrl: job.notifyUrl, deliveryId: job.deliveryId!, ...(scheduled ? { scheduled: true as const } : {}),
      body: { job_id: job.jobId, return_code: job.returnCode ?? RC.CREATE_EXCEPTION, total_files: job.total, ready_files: job.ready, error_files: job.error, comment: job.comment },
    },
  };
}

/** `final`: retrying cannot help (410 Gone, another 4xx, a forbidden target); `retryAfterMs`: the receiver's last Retry-After. */
export type CallbackResult = { ok: true; attempts: number; httpStatus: number } | { ok: false; attempts: number; error: string; final?: true; retryAfterMs?: number };

/** Long retry schedule of a delivery whose in-batch attempts failed: round n (0-based) waits
 *  min(firstDelayMs · 2^n, maxDelayMs), or the receiver's Retry-After if longer, for at most `rounds`
 *  rounds and while the next attempt falls within windowMs of the first failure. */
export interface RetryPolicy { rounds: number; firstDelayMs: number; maxDelayMs: number; windowMs: number }

export function afterCallback(job: Job, result: CallbackResult, schedule?: { now: number; policy: RetryPolicy }): Output[] {
  const deliveryId = job.deliveryId!;
  const attempts = (job.callbackAttempts ?? 0) + result.attempts;
  if (result.ok) return [emit('TapeCallbackDelivered', { jobId: job.jobId, deliveryId, attempts, httpStatus: result.httpStatus })];
  if (schedule && !result.final) {
    const { now, policy } = schedule;
    const rounds = job.callbackRounds ?? 0;
    const since = job.callbackSince ?? now;
    if (rounds < policy.rounds) {
      const delay = Math.max(Math.min(policy.firstDelayMs * 2 ** rounds, policy.maxDelayMs), result.retryAfterMs ?? 0);
      const nextAt = now + delay;
      if (nextAt <= since + policy.windowMs) return [{ kind: 'update', update: { jobId: job.jobId, nextAt, rounds: rounds + 1, attempts, since, error: result.error } }];
    }
  }
  return [emit('TapeCallbackFailed', { jobId: job.jobId, deliveryId, attempts, error: result.error })];
}

/** A pending delivery whose next scheduled attempt is due (the handler lists them on the tick). */
export function dueCallback(job: TapeState, now: number): Output[] {
  if (!isJob(job) || job.status === 'CANCELLED' || job.callback !== 'PENDING' || !job.deliveryId) return [ignore('CALLBACK_DONE')];
  if (job.callbackNextAt === null || job.callbackNextAt > now) return [];
  return [deliver(job, true)];
}

/** The job with a rescheduled delivery. */
export const rescheduled = (job: Job, r: Reschedule): Job => ({ ...job, callbackNextAt: r.nextAt, callbackRounds: r.rounds, callbackAttempts: r.attempts, callbackSince: r.since });

/** DELETE /staging removes a job in any state. The library is told (cancelbatchstage) only when the job
 *  was submitted and files are still pending there (staging, or timed out); a job whose request is
 *  still queued becomes a tombstone; an id never accepted, or already removed, is refused (404). */
function onCancelRequested(req: EventMap['TapeJobCancelRequested'], view: TapeView): Output[] {
  const job = view.job;
  // whether the write side accepted the id (its request may still be queued): ReservationChecked
  if (!isJob(job)) return [{ kind: 'effect', effect: { kind: 'checkReserved', jobId: req.jobId } }];
  if (job.status === 'CANCELLED') return refused(req.jobId, 'ALREADY_CANCELLED');
  if (filesPending(job)) return [{ kind: 'effect', effect: { kind: 'cancelStage', jobId: job.jobId } }];
  return [emit('TapeJobCancelled', { jobId: job.jobId, wasInFlight: false })];
}

const refused = (jobId: number, reason: 'NOT_FOUND' | 'ALREADY_CANCELLED') => [emit('TapeJobCancelFailed', { jobId, reason })];

/** A cancel of a job never created: an accepted id becomes a tombstone; an id never accepted is refused. */
function onReservation(jobId: number, reserved: boolean): Output[] {
  return reserved ? [emit('TapeJobCancelled', { jobId, wasInFlight: false })] : refused(jobId, 'NOT_FOUND');
}

/** Files the library may still be staging for this job. */
export const filesPending = (job: Job) => job.submitted && job.total - job.ready - job.error > 0;

/** Cancel goes ahead even when the library could not be told: the job is removed and late notifications are ignored. */
export function afterCancel(job: Job): Output[] {
  return [emit('TapeJobCancelled', { jobId: job.jobId, wasInFlight: true })];
}

/** A tick is decided once per staging job (the handler lists the jobs whose deadline has passed). */
function onTick(job: TapeState, ctx: RuleContext): Output[] {
  if (!isJob(job) || job.status !== 'STAGING') return [ignore('JOB_NOT_STAGING')];
  if (job.deadline > ctx.now) return [];
  const missing = job.total - job.ready - job.error;
  return [completed(job, RC.TIMEOUT, `timed out: ${missing} of ${job.total} files not staged`)];
}

function onRerun(job: TapeState): Output[] {
  if (!isJob(job)) return [ignore('UNKNOWN_JOB')];
  if (job.callback !== 'FAILED') return [ignore('CALLBACK_NOT_FAILED')];
  return [deliver(job)];
}

/** The input itself changes state only when it is a notification batch with files that count (each
 *  file's first outcome while the job is staging); every other input through the events decide appends. */
export function evolveInput<V extends TapeView>(view: V, input: TapeInput): V {
  if ((input.name !== 'TapeFilesStaged' && input.name !== 'TapeFilesReconciled') || !isJob(view.job) || view.job.status !== 'STAGING') return view;
  const before = view.files ?? new Map<string, FileStatus | null>();
  const a = acceptedFiles(input.value, before);
  if (!a.staged.length && !a.failed.length) return view;
  const files = new Map(before);
  for (const f of a.staged) files.set(f, 'READY');
  for (const { file } of a.failed) files.set(file, 'ERROR');
  const job = evolve(view.job, { name: 'TapeFilesStaged', value: { ...input.value, staged: a.staged, failed: a.failed } });
  return { ...view, job, files };
}

/** An appended outcome folded into the view (with the event's meta: ids and times derive from it). */
export function evolveView<V extends TapeView>(view: V, event: OutcomeEvent, meta: Meta): V {
  const job = evolve(view.job, { name: event.name, value: { ...event.value, meta } } as Evolving);
  if (job === view.job) return view; // a refusal (TapeJobCancelFailed) changes no state
  return event.name === 'TapeJobCreated' ? { ...view, job, created: event.value.files } : { ...view, job };
}

/** A decided update folded into the view. */
export const updateView = <V extends TapeView>(view: V, r: Reschedule): V => ({ ...view, job: rescheduled(view.job as Job, r) });

const NO_SCHEDULE = { callbackNextAt: null, callbackRounds: 0, callbackAttempts: 0, callbackSince: null } as const;
const NEW_JOB = { ...NO_SCHEDULE, lastHeardAt: null, firstError: null, progress: [] as number[], progressSent: 0 };

type Evolving = { name: EventName; value: { meta: Meta } & Record<string, any> };

export function evolve(state: TapeState, event: Evolving): TapeState {
  const next = apply(state, event);
  if (next !== state && !TRANSITIONS[state.status].includes((next as Job).status)) {
    throw new InvalidEventError(`tape job ${event.value.jobId}: ${event.name} cannot move ${state.status} to ${next.status}`);
  }
  return next;
}

function apply(state: TapeState, { name, value: v }: Evolving): TapeState {
  // a refusal, and a release (the disk cache is the library's), change nothing here
  if (name === 'TapeJobCancelFailed' || name === 'TapeFilesReleaseFailed' || name === 'TapeFilesReleased') return state;
  if ((name === 'TapeJobCreated' || name === 'TapeJobCreationFailed') && isJob(state)) {
    throw new InvalidEventError(`tape job ${v.jobId}: ${name} for a job that already exists`);
  }
  switch (name) {
    case 'TapeJobCreated':
      return { status: 'STAGING', jobId: v.jobId, notifyUrl: v.notifyUrl, total: v.files.length, ready: 0, error: 0, deadline: v.deadline, submitted: false, returnCode: null, comment: '', callback: 'NONE', deliveryId: null, ...NEW_JOB, progress: v.progress ?? [] };
    case 'TapeJobCreationFailed':
      return { status: 'FAILED', jobId: v.jobId, notifyUrl: v.notifyUrl, total: 0, ready: 0, error: 0, deadline: v.meta.occurredAt, submitted: false, returnCode: v.returnCode, comment: v.comment, callback: 'PENDING', deliveryId: deliveryIdOf(v.meta.eventId), ...NEW_JOB };
  }
  if (name === 'TapeJobCancelled' && !isJob(state)) {
    // cancelled before its queued request was handled: a tombstone, so the request creates nothing
    return { status: 'CANCELLED', jobId: v.jobId, notifyUrl: '', total: 0, ready: 0, error: 0, deadline: v.meta.occurredAt, submitted: false, returnCode: null, comment: 'cancelled while queued', callback: 'NONE', deliveryId: null, ...NEW_JOB };
  }
  if (!isJob(state)) throw new InvalidEventError(`tape job ${v.jobId}: ${name} before the job exists`);
  switch (name) {
    case 'TapeJobStageSubmitted': return { ...state, submitted: true, lastHeardAt: v.meta.occurredAt };
    // evolved with the accepted files only (acceptedFiles), also when a reconcile found them
    case 'TapeFilesStaged':
      return {
        ...state, ready: state.ready + v.staged.length, error: state.error + v.failed.length,
        lastHeardAt: Math.max(state.lastHeardAt ?? 0, v.meta?.occurredAt ?? 0), firstError: state.firstError ?? errorOf(v.failed[0]),
      };
    // appended: the library was asked now (what it found counts when the event is read back)
    case 'TapeFilesReconciled': return { ...state, lastHeardAt: v.meta.occurredAt };
    case 'TapeJobProgressed': return { ...state, progressSent: Math.max(state.progressSent ?? 0, v.percent) };
    case 'TapeJobCompleted':
      return { ...state, status: 'COMPLETED', ready: v.readyFiles, error: v.errorFiles, returnCode: v.returnCode, comment: v.comment, callback: 'PENDING', deliveryId: deliveryIdOf(v.meta.eventId), ...NO_SCHEDULE };
    case 'TapeJobCancelled': return { ...state, status: 'CANCELLED' };
    // a delivery that ended drops its schedule: a rerun starts a fresh one
    case 'TapeCallbackDelivered': return { ...state, callback: 'DELIVERED', ...NO_SCHEDULE };
    case 'TapeCallbackFailed': return { ...state, callback: 'FAILED', ...NO_SCHEDULE };
    default: return state;
  }
}

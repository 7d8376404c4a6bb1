// Pure ingest rules: which file gets an ingest attempt and when (seed "Manage file ingestion").
// Input: every event on dbb.ingest.files for one file id. A moved file or a rerun gives IngestQueued
// (PENDING) plus the `ingest` effect for that attempt, in one decision; a rerun that cannot be honoured
// gives IngestAttempted FAILURE; the effect's result (or its reconciliation) gives IngestAttempted. With a
// quarantine directory a FAILURE moves the file there (FileQuarantined), and a rerun of a quarantined file
// brings it back first (FileRestored). The processor's own outputs are evolved when appended, so on the
// topic they are ignored.
import type { Output as DeciderOutput } from '../../platform/decider.ts';
import { InvalidEventError } from '../../platform/errors.ts';
import type { BodyOf, Meta } from '../../platform/types.ts';
import { canMove, statusOf, type IngestEvent, type IngestStatus } from '../../domains/ingest/status.ts';

export type FileState =
  | { status: 'NONE' }
  | {
      status: IngestStatus;
      fileId: string;
      relPath: string;
      checksum: string;
      /** null when the file never reached storage (a same-name conflict) */
      storagePath: string | null;
      /** number of the latest queued attempt, 0 before the first */
      attempt: number;
      /** where the file is while quarantined (absent in states saved before quarantine existed) */
      quarantinePath?: string | null;
      /** outcomes of the attempts so far, oldest first (written into the quarantine reason file) */
      history?: AttemptRecord[];
    };

export interface AttemptRecord { attempt: number; status: string; plugin: string; at: number; durationMs: number; error: string | null }

export const initialState = (): FileState => ({ status: 'NONE' });

export interface RuleContext {
  now: number;
  eventId: string;
  /** configured plugin name, recorded on queued attempts */
  plugin: string;
  /** ingester.quarantine: where a failed file goes; null = off */
  quarantine: string | null;
}

export interface IngestEffect {
  kind: 'ingest';
  effectId: string;
  fileId: string;
  attempt: number;
  plugin: string;
  storagePath: string;
  relPath: string;
  checksum: string;
}

/** The outcome of one attempt (effects.ts), or of its reconciliation after a crash (UNKNOWN: nobody can tell). */
export interface AttemptResult {
  status: 'SUCCESS' | 'FAILURE' | 'UNKNOWN';
  durationMs: number;
  error: string | null;
  details: Record<string, unknown> | null;
}

/** Moves a failed file from storage into the quarantine directory and writes `reason` beside it. */
export interface QuarantineEffect {
  kind: 'quarantine';
  effectId: string;
  fileId: string;
  attempt: number;
  storagePath: string;
  relPath: string;
  checksum: string;
  dir: string;
  reason: QuarantineReason;
}

/** The `<name>.reason.json` written beside a quarantined file. */
export interface QuarantineReason {
  fileId: string; relPath: string; checksum: string; storagePath: string; error: string | null;
  quarantinedAt: string; attempts: AttemptRecord[];
}

/** Moves a quarantined file back to its storage path (never overwriting) and removes its reason file. */
export interface RestoreEffect { kind: 'restore'; effectId: string; fileId: string; quarantinePath: string; storagePath: string }

export type Effect = IngestEffect | QuarantineEffect | RestoreEffect;

export type QuarantineResult = { ok: true; quarantinePath: string; reasonPath: string } | { ok: false; error: string };
export type RestoreResult = { ok: true } | { ok: false; error: string };

/** An event of dbb.ingest.files, or the result of an effect. */
export type IngestInput =
  | IngestEvent
  | { name: 'IngestAttemptDone'; effect: IngestEffect; result: AttemptResult }
  | { name: 'QuarantineDone'; effect: QuarantineEffect; result: QuarantineResult }
  | { name: 'RestoreDone'; effect: RestoreEffect; result: RestoreResult };

/** The outcome events the rules append. */
export type OutcomeEvent =
  | { name: 'IngestQueued'; value: BodyOf<'IngestQueued'> }
  | { name: 'IngestAttempted'; value: BodyOf<'IngestAttempted'> }
  | { name: 'FileQuarantined'; value: BodyOf<'FileQuarantined'> }
  | { name: 'FileRestored'; value: BodyOf<'FileRestored'> };

export type IgnoreReason = 'known-file' | 'unknown-file' | 'already-queued' | 'own-output' | 'no-decision' | 'quarantine-failed';

export type Output = DeciderOutput<OutcomeEvent, Effect>;

const isEffectResult = (i: IngestInput): i is Extract<IngestInput, { effect: unknown }> =>
  i.name === 'IngestAttemptDone' || i.name === 'QuarantineDone' || i.name === 'RestoreDone';

const ignore = (reason: IgnoreReason): Output[] => [{ kind: 'ignore', reason }];

export const ingestEffectId = (fileId: string, attempt: number) => `ingest:${fileId}:${attempt}`;

export function evolve(state: FileState, e: IngestEvent): FileState {
  if (state.status !== 'NONE' && e.name === 'FileQuarantined') return { ...state, quarantinePath: e.value.quarantinePath };
  if (state.status !== 'NONE' && e.name === 'FileRestored') return { ...state, quarantinePath: null };
  const to = statusOf(e);
  if (to === null || !canMove(state.status, to)) return state;
  const v = e.value;
  if (state.status === 'NONE') {
    if (e.name !== 'FileMoved' && e.name !== 'FileBackfilled' && e.name !== 'FileConflictFound') return state;
    const storagePath = e.name === 'FileConflictFound' ? null : e.value.storagePath;
    return { status: to, fileId: v.fileId, relPath: e.value.relPath, checksum: e.value.checksum, storagePath, attempt: 0 };
  }
  if (e.name === 'IngestQueued') return { ...state, status: to, attempt: e.value.attempt };
  if (e.name === 'IngestAttempted') {
    const v = e.value;
    const rec: AttemptRecord = { attempt: v.attempt, status: v.status, plugin: v.plugin, at: v.meta.occurredAt, durationMs: v.durationMs, error: v.error ?? null };
    return { ...state, status: to, history: [...(state.history ?? []), rec] };
  }
  return { ...state, status: to };
}

/** An appended outcome, folded with its meta like the same event read back from the topic. */
export const evolveOutcome = (state: FileState, e: OutcomeEvent, meta: Meta): FileState =>
  evolve(state, { name: e.name, value: { ...e.value, meta } } as IngestEvent);

/** Every event of the file's log moves its state (by the TRANSITIONS table); an effect's result only
 *  through the IngestAttempted it gives. */
export const evolveInput = (state: FileState, input: IngestInput): FileState =>
  (isEffectResult(input) ? state : evolve(state, input));

export function decide(input: IngestInput, state: FileState, ctx: RuleContext): Output[] {
  if (input.name === 'IngestAttemptDone') return onAttemptDone(input, state, ctx);
  if (input.name === 'QuarantineDone') return onQuarantined(input);
  if (input.name === 'RestoreDone') return onRestored(input, state, ctx);
  if (!input.value.fileId) throw new InvalidEventError(`${input.name} without fileId`);
  switch (input.name) {
    case 'FileMoved': return onMoved(input, state, ctx);
    case 'IngestRerunRequested': return onRerun(state, ctx);
    case 'IngestQueued':
      return ignore('own-output');
    case 'FileDiscovered':
    case 'DuplicateFound':
    case 'FileConflictFound':
    case 'FileBackfilled':
      return ignore('no-decision');
    case 'IngestAttempted':
    case 'FileQuarantined':
    case 'FileRestored':
      return ignore('own-output');
    default: {
      const never: never = input;
      throw new InvalidEventError(`unexpected event ${(never as { name: string }).name}`);
    }
  }
}

/** Queue the next attempt and run it: IngestQueued first, then the effect whose outcome becomes IngestAttempted. */
function queue(state: Extract<FileState, { fileId: string }>, storagePath: string, ctx: RuleContext): Output[] {
  const attempt = state.attempt + 1;
  const body: BodyOf<'IngestQueued'> = {
    fileId: state.fileId, attempt, plugin: ctx.plugin, storagePath, relPath: state.relPath, checksum: state.checksum,
  };
  return [
    { kind: 'append', event: { name: 'IngestQueued', value: body } },
    {
      kind: 'effect',
      effect: { kind: 'ingest', effectId: ingestEffectId(state.fileId, attempt), fileId: state.fileId, attempt, plugin: ctx.plugin, storagePath, relPath: state.relPath, checksum: state.checksum },
    },
  ];
}

/** decide runs before evolve: a FileMoved for a new file finds NONE and queues attempt 1. */
function onMoved(input: Extract<IngestEvent, { name: 'FileMoved' }>, state: FileState, ctx: RuleContext): Output[] {
  if (state.status !== 'NONE') return ignore('known-file');
  const untried = evolve(state, input);
  if (untried.status === 'NONE') return ignore('unknown-file');
  return queue(untried, input.value.storagePath, ctx);
}

function onRerun(state: FileState, ctx: RuleContext): Output[] {
  if (state.status === 'NONE') return ignore('unknown-file');
  if (!canMove(state.status, 'RERUN')) return ignore('already-queued');
  const rerun = { ...state, status: 'RERUN' as const };
  if (rerun.storagePath && rerun.quarantinePath) {
    const effectId = `restore:${rerun.fileId}:${rerun.attempt + 1}`;
    return [{ kind: 'effect', effect: { kind: 'restore', effectId, fileId: rerun.fileId, quarantinePath: rerun.quarantinePath, storagePath: rerun.storagePath } }];
  }
  if (!rerun.storagePath) {
    const body: BodyOf<'IngestAttempted'> = {
      fileId: rerun.fileId, attempt: rerun.attempt, plugin: ctx.plugin, status: 'FAILURE', durationMs: 0,
      error: `rerun refused: ${rerun.relPath} is not in storage (a different file with the same name is there)`, details: null,
    };
    return [{ kind: 'append', event: { name: 'IngestAttempted', value: body } }];
  }
  return queue(rerun, rerun.storagePath, ctx);
}

/** The IngestAttempted body for an attempt's result (UNKNOWN when the ingester died mid-attempt). */
export function attemptOutcome(
  effect: IngestEffect,
  result: { status: 'SUCCESS' | 'FAILURE' | 'UNKNOWN'; durationMs: number; error?: string | null; details?: Record<string, unknown> | null },
): BodyOf<'IngestAttempted'> {
  return {
    fileId: effect.fileId, attempt: effect.attempt, plugin: effect.plugin, status: result.status,
    durationMs: Math.max(0, Math.round(result.durationMs)), error: result.error ?? null,
    details: result.details ? JSON.stringify(result.details) : null,
  };
}

/** The attempt's outcome; a FAILURE of a file in storage also goes to quarantine when one is configured. */
function onAttemptDone(input: Extract<IngestInput, { name: 'IngestAttemptDone' }>, state: FileState, ctx: RuleContext): Output[] {
  const value = attemptOutcome(input.effect, input.result);
  const out: Output[] = [{ kind: 'append', event: { name: 'IngestAttempted', value } }];
  if (value.status !== 'FAILURE' || !ctx.quarantine || state.status === 'NONE' || state.quarantinePath) return out;
  const e = input.effect;
  const attempts = [...(state.history ?? []), { attempt: value.attempt, status: value.status, plugin: value.plugin, at: ctx.now, durationMs: value.durationMs, error: value.error ?? null }];
  const reason: QuarantineReason = {
    fileId: e.fileId, relPath: e.relPath, checksum: e.checksum, storagePath: e.storagePath, error: value.error ?? null,
    quarantinedAt: new Date(ctx.now).toISOString(), attempts,
  };
  out.push({ kind: 'effect', effect: { kind: 'quarantine', effectId: `quarantine:${e.fileId}:${e.attempt}`, fileId: e.fileId, attempt: e.attempt, storagePath: e.storagePath, relPath: e.relPath, checksum: e.checksum, dir: ctx.quarantine, reason } });
  return out;
}

/** A quarantine that could not be done leaves the file in storage (the handler logs why). */
function onQuarantined(input: Extract<IngestInput, { name: 'QuarantineDone' }>): Output[] {
  const { effect: e, result: r } = input;
  if (!r.ok) return ignore('quarantine-failed');
  return [{ kind: 'append', event: { name: 'FileQuarantined', value: { fileId: e.fileId, attempt: e.attempt, storagePath: e.storagePath, quarantinePath: r.quarantinePath, reasonPath: r.reasonPath, error: e.reason.error } } }];
}

/** Back in storage: the rerun's attempt follows; a file that could not come back fails the rerun. */
function onRestored(input: Extract<IngestInput, { name: 'RestoreDone' }>, state: FileState, ctx: RuleContext): Output[] {
  if (state.status === 'NONE') return ignore('unknown-file');
  const e = input.effect;
  if (!input.result.ok) {
    const body: BodyOf<'IngestAttempted'> = {
      fileId: e.fileId, attempt: state.attempt, plugin: ctx.plugin, status: 'FAILURE', durationMs: 0,
      error: `rerun refused: ${e.quarantinePath} could not be brought back from quarantine: ${input.result.error}`, details: null,
    };
    return [{ kind: 'append', event: { name: 'IngestAttempted', value: body } }];
  }
  return [
    { kind: 'append', event: { name: 'FileRestored', value: { fileId: e.fileId, quarantinePath: e.quarantinePath, storagePath: e.storagePath } } },
    ...queue(state, e.storagePath, ctx),
  ];
}

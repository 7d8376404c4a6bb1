// Pure ingest rules: which file gets an ingest attempt and when (seed "Manage file ingestion").
// Input: every event on dbb.ingest.files for one file id. A moved file or a rerun gives IngestQueued
// (PENDING) plus the `ingest` effect for that attempt, in one decision; a rerun that cannot be honoured
// gives IngestAttempted FAILURE; the effect's result (or its reconciliation) gives IngestAttempted. The
// processor's own outputs are evolved when appended, so on the topic they are ignored.
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
    };

export const initialState = (): FileState => ({ status: 'NONE' });

export interface RuleContext {
  now: number;
  eventId: string;
  /** configured plugin name, recorded on queued attempts */
  plugin: string;
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

/** An event of dbb.ingest.files, or the result of an ingest effect. */
export type IngestInput = IngestEvent | { name: 'IngestAttemptDone'; effect: IngestEffect; result: AttemptResult };

/** The outcome events the rules append. */
export type OutcomeEvent =
  | { name: 'IngestQueued'; value: BodyOf<'IngestQueued'> }
  | { name: 'IngestAttempted'; value: BodyOf<'IngestAttempted'> };

export type IgnoreReason = 'known-file' | 'unknown-file' | 'already-queued' | 'own-output' | 'no-decision';

export type Output = DeciderOutput<OutcomeEvent, IngestEffect>;

const ignore = (reason: IgnoreReason): Output[] => [{ kind: 'ignore', reason }];

export const ingestEffectId = (fileId: string, attempt: number) => `ingest:${fileId}:${attempt}`;

export function evolve(state: FileState, e: IngestEvent): FileState {
  const to = statusOf(e);
  if (to === null || !canMove(state.status, to)) return state;
  const v = e.value;
  if (state.status === 'NONE') {
    if (e.name !== 'FileMoved' && e.name !== 'FileBackfilled' && e.name !== 'FileConflictFound') return state;
    const storagePath = e.name === 'FileConflictFound' ? null : e.value.storagePath;
    return { status: to, fileId: v.fileId, relPath: e.value.relPath, checksum: e.value.checksum, storagePath, attempt: 0 };
  }
  if (e.name === 'IngestQueued') return { ...state, status: to, attempt: e.value.attempt };
  return { ...state, status: to };
}

/** An appended outcome, folded with its meta like the same event read back from the topic. */
export const evolveOutcome = (state: FileState, e: OutcomeEvent, meta: Meta): FileState =>
  evolve(state, { name: e.name, value: { ...e.value, meta } } as IngestEvent);

/** Every event of the file's log moves its state (by the TRANSITIONS table); an effect's result only
 *  through the IngestAttempted it gives. */
export const evolveInput = (state: FileState, input: IngestInput): FileState =>
  (input.name === 'IngestAttemptDone' ? state : evolve(state, input));

export function decide(input: IngestInput, state: FileState, ctx: RuleContext): Output[] {
  if (input.name === 'IngestAttemptDone') return [{ kind: 'append', event: { name: 'IngestAttempted', value: attemptOutcome(input.effect, input.result) } }];
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

// Pure staging rules: a StagingRequested (or a rerun of a failed one) becomes one staging effect
// (or a StagingFailed refusal), and the effect's result (or its reconciliation after a crash)
// becomes FileStaged / StagingFailed. No I/O, no clock: ctx.now is the input's occurredAt.
import type { Output as DeciderOutput } from '../../platform/decider.ts';
import type { FileStaged, StagingFailed, StagingRequested, StagingRerunRefused, StagingRerunRequested } from '../../schemas/generated/staging.ts';
import { isMethod, type Method } from '../../domains/staging/config.ts';
import { checkRelativePath, checkSourcePath, checkUsername } from '../../domains/staging/paths.ts';

export type StagingStatus = 'NONE' | 'QUEUED' | 'SUCCESS' | 'FAILURE';
/** What a request asked for, kept in the state so a rerun can repeat it. */
export type RequestBody = Omit<StagingRequested, 'meta'>;
export type StagingState =
  | { status: 'NONE' }
  | { status: 'QUEUED'; request: RequestBody; attempt: number }
  | { status: 'SUCCESS'; request: RequestBody; attempt: number; skipped: boolean }
  | { status: 'FAILURE'; request: RequestBody; attempt: number; code: string };

export const initialState = (): StagingState => ({ status: 'NONE' });

export type StagingEvent =
  | { name: 'StagingRequested'; value: Omit<StagingRequested, 'meta'> }
  | { name: 'FileStaged'; value: Omit<FileStaged, 'meta'> }
  | { name: 'StagingFailed'; value: Omit<StagingFailed, 'meta'> }
  | { name: 'StagingRerunRequested'; value: Omit<StagingRerunRequested, 'meta'> }
  | { name: 'StagingRerunRefused'; value: Omit<StagingRerunRefused, 'meta'> };

/** Legal transitions: which event moves a request from which status to which. */
export const TRANSITIONS: Record<StagingStatus, Partial<Record<StagingEvent['name'], StagingStatus>>> = {
  NONE: { StagingRequested: 'QUEUED' },
  QUEUED: { FileStaged: 'SUCCESS', StagingFailed: 'FAILURE' },
  SUCCESS: {},
  FAILURE: { StagingRerunRequested: 'QUEUED' },
};

export function evolve(state: StagingState, event: StagingEvent): StagingState {
  const next = TRANSITIONS[state.status][event.name];
  if (!next) return state; // a late or duplicate event changes nothing
  switch (event.name) {
    case 'StagingRequested': {
      const { requestId, method, username, localPathOnStorage, relativePath } = event.value; // no meta in the state
      return { status: 'QUEUED', request: { requestId, method, username, localPathOnStorage, relativePath }, attempt: 1 };
    }
    case 'FileStaged': return { status: 'SUCCESS', request: (state as Settled).request, attempt: (state as Settled).attempt, skipped: event.value.skipped };
    case 'StagingFailed': return { status: 'FAILURE', request: (state as Settled).request, attempt: (state as Settled).attempt, code: event.value.code };
    case 'StagingRerunRequested': return { status: 'QUEUED', request: (state as Settled).request, attempt: (state as Settled).attempt + 1 };
    case 'StagingRerunRefused': return state; // no transition: never reached
  }
}
type Settled = Exclude<StagingState, { status: 'NONE' }>;

export interface RuleContext {
  now: number;
  allowedMethods: readonly Method[];
  storageRoot: string;
}

/** What one staging effect does (effects.ts carries it out). */
export interface StageEffect {
  kind: Method;
  requestId: string;
  username: string;
  /** Validated components below the storage root / the user's area (paths.ts). */
  source: string[];
  dest: string[];
}

/** A planned effect and its id in the effect ledger (effectIdOf: persisted, so never change it). */
export type StagingEffect = StageEffect & { effectId: string };

export type EffectResult =
  | { ok: true; sourcePath: string; destination: string | null; sizeBytes: number; skipped: boolean; reconciled: boolean; startedAt: number; finishedAt: number }
  | { ok: false; code: string; reason: string; startedAt: number; finishedAt: number };

export type StagingInput =
  | { name: 'StagingRequested'; value: StagingRequested }
  | { name: 'StagingRerunRequested'; value: StagingRerunRequested }
  /** result of an effect */
  | { name: 'EffectCompleted'; effect: StagingEffect; result: EffectResult }
  /** result of an effect whose outcome was unknown after a crash, found by reconcile */
  | { name: 'EffectReconciled'; effect: StagingEffect; result: EffectResult };

/** The outcome events the rules append. */
export type OutcomeEvent = Extract<StagingEvent, { name: 'FileStaged' | 'StagingFailed' | 'StagingRerunRefused' }>;

export type IgnoreReason = 'ALREADY_HANDLED' | 'NOT_QUEUED' | 'NOT_FAILED';
export type Output = DeciderOutput<OutcomeEvent, StagingEffect>;

/** Attempt 1 keeps the plain id; a rerun's attempt n gets its own effect (the old one stays recorded). */
export const effectIdOf = (requestId: string, attempt = 1) => (attempt === 1 ? `staging:${requestId}` : `staging:${requestId}:${attempt}`);

function failed(v: { requestId: string; method: string; username: string }, code: string, reason: string, t?: { startedAt: number; finishedAt: number }): Output {
  return { kind: 'append', event: { name: 'StagingFailed', value: { requestId: v.requestId, method: v.method, username: v.username, code, reason, startedAt: t?.startedAt ?? null, finishedAt: t?.finishedAt ?? null } } };
}

function onRequested(v: StagingRequested, state: StagingState, ctx: RuleContext): Output[] {
  if (state.status !== 'NONE') return [{ kind: 'ignore', reason: 'ALREADY_HANDLED' }];
  return stage(v, 1, ctx);
}

/** Only a FAILURE request runs again; anything else is answered with StagingRerunRefused (the route
 *  waits for it: the decision is the processor's, on its own state, not the projection's). */
function onRerun(v: StagingRerunRequested, state: StagingState, ctx: RuleContext): Output[] {
  if (state.status !== 'FAILURE' || !state.request) {
    const code = state.status === 'NONE' ? 'NOT_FOUND' : 'NOT_FAILED';
    const reason = state.status === 'NONE' ? `no staging request ${v.requestId}` : `request ${v.requestId} has status ${state.status}; only FAILURE requests can be rerun`;
    return [{ kind: 'append', event: { name: 'StagingRerunRefused', value: { requestId: v.requestId, code, status: state.status, reason } } }];
  }
  return stage(state.request, state.attempt + 1, ctx);
}

/** Checks a request again (the site's config may have changed) and plans its effect. */
function stage(v: RequestBody, attempt: number, ctx: RuleContext): Output[] {
  if (!isMethod(v.method) || !ctx.allowedMethods.includes(v.method)) {
    return [failed(v, 'METHOD_NOT_ALLOWED', `Invalid staging method: ${v.method}; allowed: ${ctx.allowedMethods.join(', ')}`)];
  }
  const user = checkUsername(v.username);
  if (!user.ok) return [failed(v, user.code, user.reason)];
  const source = checkSourcePath(v.localPathOnStorage, ctx.storageRoot);
  if (!source.ok) return [failed(v, source.code, source.reason)];
  let dest: string[] = [];
  if (v.method !== 'direct_download') {
    const d = checkRelativePath(v.relativePath);
    if (!d.ok) return [failed(v, d.code, d.reason)];
    dest = d.components;
  }
  const effect: StagingEffect = { kind: v.method, requestId: v.requestId, username: v.username, source: source.components, dest, effectId: effectIdOf(v.requestId, attempt) };
  return [{ kind: 'effect', effect }];
}

function onResult(effect: StageEffect, result: EffectResult, state: StagingState): Output[] {
  if (state.status !== 'QUEUED') return [{ kind: 'ignore', reason: 'NOT_QUEUED' }];
  const v = { requestId: effect.requestId, method: effect.kind, username: effect.username };
  if (!result.ok) return [failed(v, result.code, result.reason, result)];
  return [{
    kind: 'append',
    event: {
      name: 'FileStaged',
      value: {
        ...v, sourcePath: result.sourcePath, destination: result.destination, sizeBytes: result.sizeBytes, skipped: result.skipped,
        reconciled: result.reconciled, startedAt: result.startedAt, finishedAt: result.finishedAt,
      },
    },
  }];
}

export function decide(input: StagingInput, state: StagingState, ctx: RuleContext): Output[] {
  switch (input.name) {
    case 'StagingRequested': return onRequested(input.value, state, ctx);
    case 'StagingRerunRequested': return onRerun(input.value, state, ctx);
    case 'EffectCompleted': return onResult(input.effect, input.result, state);
    case 'EffectReconciled': return onResult(input.effect, { ...input.result, ...(input.result.ok ? { reconciled: true } : {}) }, state);
    default: {
      const never: never = input;
      throw new Error(`unknown input ${(never as { name: string }).name}`);
    }
  }
}

/** A request (or rerun) is a fact of the log: it moves the state, unless it was ignored or refused. */
export function evolveInput(state: StagingState, input: StagingInput, outputs: Output[]): StagingState {
  if (input.name !== 'StagingRequested' && input.name !== 'StagingRerunRequested') return state;
  const first = outputs[0];
  if (first?.kind === 'ignore' || (first?.kind === 'append' && first.event.name === 'StagingRerunRefused')) return state;
  return evolve(state, { name: input.name, value: input.value } as StagingEvent);
}

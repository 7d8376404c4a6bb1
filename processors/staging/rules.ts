// Pure staging rules: a StagingRequested (or a rerun of a failed one) takes one of its user's slots
// (STAGING_MAX_ACTIVE_PER_USER; beyond the cap it waits: StagingWaiting, then StagingStarted) and becomes
// one staging effect (or a StagingFailed refusal); the effect's result (or its reconciliation after a
// crash) becomes FileStaged / StagingFailed, frees the slot and, with a notify_url, is POSTed once
// (StagingNotificationDelivered / -Failed). No I/O, no clock: ctx.now is the input's occurredAt.
import type { Output as DeciderOutput } from '../../platform/decider.ts';
import type { WebhookResult } from '../../platform/webhook.ts';
import type {
  FileStaged, StagingFailed, StagingNotificationDelivered, StagingNotificationFailed, StagingRequested, StagingRerunRefused,
  StagingRerunRequested, StagingStarted, StagingWaiting,
} from '../../schemas/generated/staging.ts';
import { isMethod, type Method } from '../../domains/staging/config.ts';
import { checkRelativePath, checkSourcePath, checkUsername } from '../../domains/staging/paths.ts';

export type StagingStatus = 'NONE' | 'QUEUED' | 'SUCCESS' | 'FAILURE';
/** What a request asked for, kept in the state so a rerun can repeat it. */
export type RequestBody = Omit<StagingRequested, 'meta'>;
/** `slot`: the request holds one of its user's active slots (freed when it ends); `waiting`: it waits
 *  for one (status stays QUEUED, the seed's word); `notified`: the attempt whose outcome was POSTed. */
export type StagingState =
  | { status: 'NONE' }
  | { status: 'QUEUED'; request: RequestBody; attempt: number; slot?: boolean; waiting?: boolean }
  | { status: 'SUCCESS'; request: RequestBody; attempt: number; skipped: boolean; notified?: number }
  | { status: 'FAILURE'; request: RequestBody; attempt: number; code: string; notified?: number };

export const initialState = (): StagingState => ({ status: 'NONE' });

export type StagingEvent =
  | { name: 'StagingRequested'; value: Omit<StagingRequested, 'meta'> }
  | { name: 'FileStaged'; value: Omit<FileStaged, 'meta'> }
  | { name: 'StagingFailed'; value: Omit<StagingFailed, 'meta'> }
  | { name: 'StagingRerunRequested'; value: Omit<StagingRerunRequested, 'meta'> }
  | { name: 'StagingRerunRefused'; value: Omit<StagingRerunRefused, 'meta'> }
  | { name: 'StagingWaiting'; value: Omit<StagingWaiting, 'meta'> }
  | { name: 'StagingStarted'; value: Omit<StagingStarted, 'meta'> }
  | { name: 'StagingNotificationDelivered'; value: Omit<StagingNotificationDelivered, 'meta'> }
  | { name: 'StagingNotificationFailed'; value: Omit<StagingNotificationFailed, 'meta'> };

/** Legal transitions: which event moves a request from which status to which. */
export const TRANSITIONS: Record<StagingStatus, Partial<Record<StagingEvent['name'], StagingStatus>>> = {
  NONE: { StagingRequested: 'QUEUED' },
  QUEUED: { FileStaged: 'SUCCESS', StagingFailed: 'FAILURE', StagingWaiting: 'QUEUED', StagingStarted: 'QUEUED' },
  SUCCESS: { StagingNotificationDelivered: 'SUCCESS', StagingNotificationFailed: 'SUCCESS' },
  FAILURE: { StagingRerunRequested: 'QUEUED', StagingNotificationDelivered: 'FAILURE', StagingNotificationFailed: 'FAILURE' },
};

export function evolve(state: StagingState, event: StagingEvent): StagingState {
  const next = TRANSITIONS[state.status][event.name];
  if (!next) return state; // a late or duplicate event changes nothing
  switch (event.name) {
    case 'StagingRequested': {
      const { requestId, method, username, localPathOnStorage, relativePath, notifyUrl } = event.value; // no meta in the state
      return { status: 'QUEUED', request: { requestId, method, username, localPathOnStorage, relativePath, notifyUrl: notifyUrl ?? null }, attempt: 1 };
    }
    case 'FileStaged': return { status: 'SUCCESS', request: (state as Settled).request, attempt: (state as Settled).attempt, skipped: event.value.skipped };
    case 'StagingFailed': return { status: 'FAILURE', request: (state as Settled).request, attempt: (state as Settled).attempt, code: event.value.code };
    case 'StagingRerunRequested': return { status: 'QUEUED', request: (state as Settled).request, attempt: (state as Settled).attempt + 1 };
    case 'StagingWaiting': return { ...(state as Queued), waiting: true };
    case 'StagingStarted': return { ...(state as Queued), waiting: false, slot: true }; // the freed slot was handed to it
    case 'StagingNotificationDelivered':
    case 'StagingNotificationFailed': return { ...(state as Done), notified: (state as Done).attempt };
    case 'StagingRerunRefused': return state; // no transition: never reached
  }
}
type Queued = Extract<StagingState, { status: 'QUEUED' }>;
type Done = Extract<StagingState, { status: 'SUCCESS' | 'FAILURE' }>;
type Settled = Exclude<StagingState, { status: 'NONE' }>;

export interface RuleContext {
  now: number;
  allowedMethods: readonly Method[];
  storageRoot: string;
  /** STAGING_MAX_ACTIVE_PER_USER; 0 = no cap */
  maxActivePerUser: number;
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

/** A planned staging effect and its id in the effect ledger (effectIdOf: persisted, so never change it). */
export type CopyEffect = StageEffect & { effectId: string };

/** The body POSTed to notify_url (snake_case like the seed's JSON). */
export interface Notification {
  request_id: string; attempt: number; status: 'SUCCESS' | 'FAILURE'; method: string; username: string;
  destination: string | null; size_bytes: number | null; sha256: string | null; skipped: boolean;
  error_code: string | null; error_reason: string | null; finished_at: number | null;
}

/** Slot effects run in the batch transaction (a reservation committed with the events); `notify` POSTs. */
export type StagingEffect =
  | CopyEffect
  | { kind: 'acquireSlot'; requestId: string; username: string; cap: number; then: CopyEffect }
  | { kind: 'releaseSlot'; requestId: string; username: string }
  | { kind: 'notify'; requestId: string; notifyUrl: string; deliveryId: string; body: Notification };

export type EffectResult =
  | { ok: true; sourcePath: string; destination: string | null; sizeBytes: number; sha256: string | null; skipped: boolean; reconciled: boolean; startedAt: number; finishedAt: number }
  | { ok: false; code: string; reason: string; startedAt: number; finishedAt: number };

export type StagingInput =
  | { name: 'StagingRequested'; value: StagingRequested }
  | { name: 'StagingRerunRequested'; value: StagingRerunRequested }
  /** appended by the processor itself when it hands a freed slot to a waiting request */
  | { name: 'StagingStarted'; value: StagingStarted }
  /** result of an effect */
  | { name: 'EffectCompleted'; effect: CopyEffect; result: EffectResult }
  /** result of an effect whose outcome was unknown after a crash, found by reconcile */
  | { name: 'EffectReconciled'; effect: CopyEffect; result: EffectResult }
  /** admitted: the request holds a slot now; else it is number `position` in its user's queue */
  | { name: 'SlotAcquired'; effect: Extract<StagingEffect, { kind: 'acquireSlot' }>; admitted: boolean; active: number; position: number }
  | { name: 'SlotReleased' }
  | { name: 'NotifyDone'; effect: Extract<StagingEffect, { kind: 'notify' }>; result: WebhookResult };

/** The outcome events the rules append. */
export type OutcomeEvent = Extract<StagingEvent, { name: 'FileStaged' | 'StagingFailed' | 'StagingRerunRefused' | 'StagingWaiting' | 'StagingNotificationDelivered' | 'StagingNotificationFailed' }>;

/** A decided change of the request's own state that is no fact of the log. */
export type SlotHeld = { slot: true };

export type IgnoreReason = 'ALREADY_HANDLED' | 'NOT_QUEUED' | 'NOT_FAILED' | 'NOT_WAITING' | 'ALREADY_NOTIFIED';
export type Output = DeciderOutput<OutcomeEvent, StagingEffect, SlotHeld>;

/** Attempt 1 keeps the plain id; a rerun's attempt n gets its own effect (the old one stays recorded). */
export const effectIdOf = (requestId: string, attempt = 1) => (attempt === 1 ? `staging:${requestId}` : `staging:${requestId}:${attempt}`);

/** notify_url deliveries of one request: one id per attempt (a rerun's outcome is a new notification). */
export const deliveryIdOf = (requestId: string, attempt: number) => `staging-${requestId}-${attempt}`;

type Outcome = Extract<OutcomeEvent, { name: 'FileStaged' | 'StagingFailed' }>;

/** The outcome, then the slot freed (when held), then the notification (when asked for). */
function settle(request: RequestBody, attempt: number, holdsSlot: boolean, outcome: Outcome): Output[] {
  const out: Output[] = [{ kind: 'append', event: outcome }];
  if (holdsSlot) out.push({ kind: 'effect', effect: { kind: 'releaseSlot', requestId: request.requestId, username: request.username } });
  if (request.notifyUrl) {
    const v = outcome.value;
    const ok = outcome.name === 'FileStaged';
    const f = outcome.value as Partial<FileStaged & StagingFailed>;
    const body: Notification = {
      request_id: v.requestId, attempt, status: ok ? 'SUCCESS' : 'FAILURE', method: v.method, username: v.username,
      destination: f.destination ?? null, size_bytes: f.sizeBytes ?? null, sha256: f.sha256 ?? null, skipped: f.skipped ?? false,
      error_code: f.code ?? null, error_reason: f.reason ?? null, finished_at: f.finishedAt ?? null,
    };
    out.push({ kind: 'effect', effect: { kind: 'notify', requestId: v.requestId, notifyUrl: request.notifyUrl, deliveryId: deliveryIdOf(v.requestId, attempt), body } });
  }
  return out;
}

function failedEvent(v: { requestId: string; method: string; username: string }, code: string, reason: string, t?: { startedAt: number; finishedAt: number }): Outcome {
  return { name: 'StagingFailed', value: { requestId: v.requestId, method: v.method, username: v.username, code, reason, startedAt: t?.startedAt ?? null, finishedAt: t?.finishedAt ?? null } };
}

function onRequested(v: StagingRequested, state: StagingState, ctx: RuleContext): Output[] {
  if (state.status !== 'NONE') return [{ kind: 'ignore', reason: 'ALREADY_HANDLED' }];
  const { meta: _meta, ...request } = v;
  return stage({ ...request, notifyUrl: v.notifyUrl ?? null }, 1, ctx);
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

/** The checks again (the site's config may have changed): the planned copy, or the refusal. */
function plan(v: RequestBody, attempt: number, ctx: RuleContext): CopyEffect | Outcome {
  if (!isMethod(v.method) || !ctx.allowedMethods.includes(v.method)) {
    return failedEvent(v, 'METHOD_NOT_ALLOWED', `Invalid staging method: ${v.method}; allowed: ${ctx.allowedMethods.join(', ')}`);
  }
  const user = checkUsername(v.username);
  if (!user.ok) return failedEvent(v, user.code, user.reason);
  const source = checkSourcePath(v.localPathOnStorage, ctx.storageRoot);
  if (!source.ok) return failedEvent(v, source.code, source.reason);
  let dest: string[] = [];
  if (v.method !== 'direct_download') {
    const d = checkRelativePath(v.relativePath);
    if (!d.ok) return failedEvent(v, d.code, d.reason);
    dest = d.components;
  }
  return { kind: v.method, requestId: v.requestId, username: v.username, source: source.components, dest, effectId: effectIdOf(v.requestId, attempt) };
}

/** Plans the request's effect; with a cap, it first takes one of the user's slots. */
function stage(v: RequestBody, attempt: number, ctx: RuleContext): Output[] {
  const p = plan(v, attempt, ctx);
  if ('name' in p) return settle(v, attempt, false, p);
  if (ctx.maxActivePerUser === 0) return [{ kind: 'effect', effect: p }];
  return [{ kind: 'effect', effect: { kind: 'acquireSlot', requestId: v.requestId, username: v.username, cap: ctx.maxActivePerUser, then: p } }];
}

function onSlot(input: Extract<StagingInput, { name: 'SlotAcquired' }>, state: StagingState): Output[] {
  if (state.status !== 'QUEUED') return [{ kind: 'ignore', reason: 'NOT_QUEUED' }];
  if (input.admitted) return [{ kind: 'update', update: { slot: true } }, { kind: 'effect', effect: input.effect.then }];
  const { requestId, username } = input.effect;
  return [{ kind: 'append', event: { name: 'StagingWaiting', value: { requestId, username, active: input.active, position: input.position } } }];
}

/** A waiting request was handed a freed slot: plan and run it now (a refusal frees the slot again). */
function onStarted(state: StagingState, ctx: RuleContext): Output[] {
  if (state.status !== 'QUEUED' || !state.waiting) return [{ kind: 'ignore', reason: 'NOT_WAITING' }];
  const p = plan(state.request, state.attempt, ctx);
  return 'name' in p ? settle(state.request, state.attempt, true, p) : [{ kind: 'effect', effect: p }];
}

function onResult(effect: StageEffect, result: EffectResult, state: StagingState): Output[] {
  if (state.status !== 'QUEUED') return [{ kind: 'ignore', reason: 'NOT_QUEUED' }];
  const v = { requestId: effect.requestId, method: effect.kind, username: effect.username };
  const holds = !!state.slot;
  if (!result.ok) return settle(state.request, state.attempt, holds, failedEvent(v, result.code, result.reason, result));
  return settle(state.request, state.attempt, holds, {
    name: 'FileStaged',
    value: {
      ...v, sourcePath: result.sourcePath, destination: result.destination, sizeBytes: result.sizeBytes, sha256: result.sha256, skipped: result.skipped,
      reconciled: result.reconciled, startedAt: result.startedAt, finishedAt: result.finishedAt,
    },
  });
}

function onNotified(input: Extract<StagingInput, { name: 'NotifyDone' }>, state: StagingState): Output[] {
  if ((state.status !== 'SUCCESS' && state.status !== 'FAILURE') || state.notified === state.attempt) return [{ kind: 'ignore', reason: 'ALREADY_NOTIFIED' }];
  const { requestId, deliveryId } = input.effect;
  const r = input.result;
  return [{
    kind: 'append',
    event: r.ok
      ? { name: 'StagingNotificationDelivered', value: { requestId, deliveryId, attempts: r.attempts, httpStatus: r.httpStatus } }
      : { name: 'StagingNotificationFailed', value: { requestId, deliveryId, attempts: r.attempts, error: r.error } },
  }];
}

export function decide(input: StagingInput, state: StagingState, ctx: RuleContext): Output[] {
  switch (input.name) {
    case 'StagingRequested': return onRequested(input.value, state, ctx);
    case 'StagingRerunRequested': return onRerun(input.value, state, ctx);
    case 'StagingStarted': return onStarted(state, ctx);
    case 'SlotAcquired': return onSlot(input, state);
    case 'SlotReleased': return [{ kind: 'ignore', reason: 'ALREADY_HANDLED' }];
    case 'NotifyDone': return onNotified(input, state);
    case 'EffectCompleted': return onResult(input.effect, input.result, state);
    case 'EffectReconciled': return onResult(input.effect, { ...input.result, ...(input.result.ok ? { reconciled: true } : {}) }, state);
    default: {
      const never: never = input;
      throw new Error(`unknown input ${(never as { name: string }).name}`);
    }
  }
}

/** Folds a decided slot reservation into the request's state. */
export const update = (state: StagingState, u: SlotHeld): StagingState => (state.status === 'QUEUED' ? { ...state, ...u } : state);

/** A request, rerun or start is a fact of the log: it moves the state, unless it was ignored or refused. */
export function evolveInput(state: StagingState, input: StagingInput, outputs: Output[]): StagingState {
  if (input.name !== 'StagingRequested' && input.name !== 'StagingRerunRequested' && input.name !== 'StagingStarted') return state;
  const first = outputs[0];
  if (first?.kind === 'ignore' || (first?.kind === 'append' && first.event.name === 'StagingRerunRefused')) return state;
  return evolve(state, { name: input.name, value: input.value } as StagingEvent);
}

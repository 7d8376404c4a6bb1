// The one decide → append → effect loop every processor runs. A batch comes in; the state of every key
// it touches is loaded with one query; each key's inputs are decided in order, keys concurrently (with a
// bound); an effect's result goes back through `decide` as the next input; every changed state is saved
// with one statement. The rules stay pure: they return outputs, this loop carries them out.
import type pg from 'pg';
import { InvalidEventError } from './errors.ts';
import { metrics } from './metrics.ts';
import { inSpan } from './tracing.ts';
import type { BatchContext, DecodedEvent, EventName, HandlerContext, Meta } from './types.ts';

/** An outcome event the rules append (through the outbox, in the batch transaction). */
export interface Appended { name: EventName; value: object }

/** `update`: a decided change of the processor's own state that is no fact of the log (e.g. tape's
 *  schedule of a callback redelivery); folded in by `Decider.update`, never appended. */
export type Output<E extends Appended, F, U = never> =
  | { kind: 'append'; event: E }
  | { kind: 'effect'; effect: F }
  | { kind: 'update'; update: U }
  | { kind: 'ignore'; reason: string };

export interface Decider<S, I, E extends Appended, F, C, U = never> {
  decide(input: I, state: S, ctx: C): Output<E, F, U>[];
  /** folds an appended outcome into the state (pure); `meta` is the appended event's (its derived id, its time) */
  evolve(state: S, event: E, meta: Meta): S;
  /** folds the input itself into the state when the input is a fact of the log (a request), given
   *  what was decided; absent: only outcomes change the state */
  evolveInput?(state: S, input: I, outputs: Output<E, F, U>[]): S;
  /** folds a decided `update` into the state (pure); needed only by rules that decide updates */
  update?(state: S, update: U): S;
  /** outputs that follow an appended outcome once it is folded in, carried out next (e.g. an effect
   *  that needs the outcome's derived id, in the same batch instead of when the outcome is read back) */
  react?(state: S, event: E, ctx: C): Output<E, F, U>[];
}

/** One input of a batch and the key of its state. */
export interface Keyed<I> { key: string; input: I }

/** What a processor's handler.ts supplies around its rules. */
export interface DeciderHandler<S, I, E extends Appended, F, C, U = never> {
  decider: Decider<S, I, E, F, C, U>;
  /** The input an event carries and the key of its state; null when the event is not an input (e.g.
   *  the processor's own outcomes on a shared topic). Throws InvalidEventError for a malformed one.
   *  An event about many keys (a tick) gives one input per key, in the order they are decided; it may
   *  read the batch transaction to find them (a promise), before any state of the batch is loaded. */
  inputOf(event: DecodedEvent, tx: pg.PoolClient): Keyed<I> | Keyed<I>[] | null | Promise<Keyed<I>[]>;
  /** the states of `keys`, with one query; a missing key gets the initial state. `inputs` are the
   *  batch's inputs of each key, for a state that loads only what they need (e.g. the files named) */
  load(tx: pg.PoolClient, keys: string[], inputs: ReadonlyMap<string, readonly I[]>): Promise<Map<string, S>>;
  /** writes the given states, with one statement */
  save(tx: pg.PoolClient, states: Map<string, S>): Promise<void>;
  /** the rule context of an input event (its time, ids, config): no clock, no randomness */
  context(event: DecodedEvent): C;
  /** carries out one effect and returns its result as the next input; `n` numbers the effects of one event */
  perform(effect: F, ctx: HandlerContext, event: DecodedEvent, n: number): Promise<I>;
  /** keys decided at once within a batch (effects of different keys overlap); default 1 */
  concurrency?: number;
}

type Failed = { event: DecodedEvent; error: Error };

/** The effect kind for metrics and spans: the effect's `kind` field when it has one. */
const kindOf = (effect: unknown) => {
  const k = (effect as { kind?: unknown } | null)?.kind;
  return typeof k === 'string' ? k : 'effect';
};

/** `h.perform` timed into dbb_effect_seconds{effect,outcome} and, with tracing on, in an `effect <kind>`
 *  span under the event's consumer span. */
async function performObserved<I, F>(h: { perform(effect: F, ctx: HandlerContext, event: DecodedEvent, n: number): Promise<I> }, effect: F, ctx: HandlerContext, event: DecodedEvent, n: number): Promise<I> {
  const effectKind = kindOf(effect);
  const end = metrics.effectSeconds.startTimer({ effect: effectKind });
  try {
    const result = await inSpan(`effect ${effectKind}`, { 'dbb.effect': effectKind, 'dbb.event': event.name, 'dbb.correlation_id': event.meta.correlationId }, () => h.perform(effect, ctx, event, n), ctx.traceContext);
    end({ outcome: 'ok' });
    return result;
  } catch (err) {
    end({ outcome: 'error' });
    throw err;
  }
}

const inputsOf = (byKey: Map<string, { input: unknown }[]>) => new Map([...byKey].map(([key, list]) => [key, list.map((x) => x.input)]));

/** The consumer functions (`handle` for one event, `handleBatch` for a batch) of a decider handler. */
export function deciderLoop<S, I, E extends Appended, F, C, U = never>(h: DeciderHandler<S, I, E, F, C, U>) {
  /** Decides and carries out one input; returns the key's new state. */
  async function run(event: DecodedEvent, key: string, input: I, state: S, ctx: HandlerContext): Promise<S> {
    const rc = h.context(event);
    const first = h.decider.decide(input, state, rc);
    if (h.decider.evolveInput) state = h.decider.evolveInput(state, input, first);
    const queue = [...first];
    let n = 0;
    let acted = false;
    try {
      while (queue.length) {
        const out = queue.shift()!;
        if (out.kind === 'ignore') {
          ctx.log.debug({ event: event.name, key, reason: out.reason }, 'input ignored');
        } else if (out.kind === 'update') {
          if (!h.decider.update) throw new Error(`the rules decided a state update on ${event.name} but fold none`);
          state = h.decider.update(state, out.update);
        } else if (out.kind === 'append') {
          acted = true;
          // appended first: the state folds the event with its meta (derived id, time)
          const meta = await ctx.emit(out.event.name, key, out.event.value as never);
          state = h.decider.evolve(state, out.event, meta);
          if (h.decider.react) queue.unshift(...h.decider.react(state, out.event, rc));
        } else {
          acted = true;
          const result = await performObserved(h, out.effect, ctx, event, n++);
          queue.unshift(...h.decider.decide(result, state, rc));
        }
      }
    } catch (err) {
      // decide() validates an input before any output, so once something was appended or done an
      // InvalidEventError is a bug in the rules: never dead-letter half-done work
      if (err instanceof InvalidEventError && acted) throw new Error(`rules broke after acting on ${event.name}: ${err.message}`, { cause: err });
      throw err;
    }
    return state;
  }

  async function found(event: DecodedEvent, tx: pg.PoolClient): Promise<Keyed<I>[]> {
    const f = await h.inputOf(event, tx);
    return f === null ? [] : Array.isArray(f) ? f : [f];
  }

  async function handleBatch(events: DecodedEvent[], bctx: BatchContext): Promise<{ invalid: Failed[] }> {
    const invalid: Failed[] = [];
    const byKey = new Map<string, { event: DecodedEvent; input: I }[]>();
    for (const event of events) {
      try {
        for (const { key, input } of await found(event, bctx.tx)) {
          const list = byKey.get(key) ?? [];
          list.push({ event, input });
          byKey.set(key, list);
        }
      } catch (err) {
        if (!(err instanceof InvalidEventError)) throw err;
        invalid.push({ event, error: err });
      }
    }
    if (!byKey.size) return { invalid };
    const states = await h.load(bctx.tx, [...byKey.keys()], inputsOf(byKey) as Map<string, I[]>);
    const changed = new Map<string, S>();
    const keys = [...byKey.keys()];
    let next = 0;
    const worker = async () => {
      while (next < keys.length) {
        const key = keys[next++]!;
        let state = states.get(key) as S;
        for (const { event, input } of byKey.get(key)!) {
          try {
            const after = await run(event, key, input, state, bctx.forEvent(event));
            if (after !== state) changed.set(key, after);
            state = after;
          } catch (err) {
            if (!(err instanceof InvalidEventError)) throw err;
            invalid.push({ event, error: err });
          }
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(h.concurrency ?? 1, keys.length) }, worker));
    if (changed.size) await h.save(bctx.tx, changed);
    return { invalid };
  }

  async function handle(event: DecodedEvent, ctx: HandlerContext): Promise<void> {
    const inputs = await found(event, ctx.tx);
    if (!inputs.length) return;
    const byKey = new Map<string, I[]>();
    for (const { key, input } of inputs) byKey.set(key, [...(byKey.get(key) ?? []), input]);
    const states = await h.load(ctx.tx, [...byKey.keys()], byKey);
    const changed = new Map<string, S>();
    for (const { key, input } of inputs) {
      const before = (changed.get(key) ?? states.get(key)) as S;
      const after = await run(event, key, input, before, ctx);
      if (after !== before) changed.set(key, after);
    }
    if (changed.size) await h.save(ctx.tx, changed);
  }

  return { handle, handleBatch };
}

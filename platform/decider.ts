// The one decide → append → effect loop every processor runs. A batch comes in; the state of every key
// it touches is loaded with one query; each key's inputs are decided in order, keys concurrently (with a
// bound); an effect's result goes back through `decide` as the next input; every changed state is saved
// with one statement. The rules stay pure: they return outputs, this loop carries them out.
import type pg from 'pg';
import { InvalidEventError } from './errors.ts';
import type { BatchContext, DecodedEvent, EventName, HandlerContext } from './types.ts';

/** An outcome event the rules append (through the outbox, in the batch transaction). */
export interface Appended { name: EventName; value: object }

export type Output<E extends Appended, F> =
  | { kind: 'append'; event: E }
  | { kind: 'effect'; effect: F }
  | { kind: 'ignore'; reason: string };

export interface Decider<S, I, E extends Appended, F, C> {
  decide(input: I, state: S, ctx: C): Output<E, F>[];
  /** folds an appended outcome into the state (pure) */
  evolve(state: S, event: E): S;
  /** folds the input itself into the state when the input is a fact of the log (a request), given
   *  what was decided; absent: only outcomes change the state */
  evolveInput?(state: S, input: I, outputs: Output<E, F>[]): S;
}

/** What a processor's handler.ts supplies around its rules. */
export interface DeciderHandler<S, I, E extends Appended, F, C> {
  decider: Decider<S, I, E, F, C>;
  /** The input an event carries and the key of its state; null when the event is not an input (e.g.
   *  the processor's own outcomes on a shared topic). Throws InvalidEventError for a malformed one. */
  inputOf(event: DecodedEvent): { key: string; input: I } | null;
  /** the states of `keys`, with one query; a missing key gets the initial state */
  load(tx: pg.PoolClient, keys: string[]): Promise<Map<string, S>>;
  /** writes the given states, with one statement */
  save(tx: pg.PoolClient, states: Map<string, S>): Promise<void>;
  /** the rule context of an input event (its time, ids, config): no clock, no randomness */
  context(event: DecodedEvent): C;
  /** carries out one effect and returns its result as the next input; `n` numbers the effects of one event */
  perform(effect: F, ctx: HandlerContext, event: DecodedEvent, n: number): Promise<I>;
  /** keys decided at once within a batch (effects of different keys overlap); default 1 */
  concurrency?: number;
  /** called once per batch after the states are loaded, before any decision: work to start early
   *  (e.g. formatting every chunk the batch will likely store, in parallel) */
  prepare?(inputs: { event: DecodedEvent; key: string; input: I }[], states: Map<string, S>): void;
}

type Failed = { event: DecodedEvent; error: Error };

/** The consumer functions (`handle` for one event, `handleBatch` for a batch) of a decider handler. */
export function deciderLoop<S, I, E extends Appended, F, C>(h: DeciderHandler<S, I, E, F, C>) {
  /** Decides and carries out one input; returns the key's new state. */
  async function run(event: DecodedEvent, key: string, input: I, state: S, ctx: HandlerContext): Promise<S> {
    const rc = h.context(event);
    const first = h.decider.decide(input, state, rc);
    if (h.decider.evolveInput) state = h.decider.evolveInput(state, input, first);
    const queue = [...first];
    let n = 0;
    try {
      while (queue.length) {
        const out = queue.shift()!;
        if (out.kind === 'ignore') {
          ctx.log.debug({ event: event.name, key, reason: out.reason }, 'input ignored');
        } else if (out.kind === 'append') {
          state = h.decider.evolve(state, out.event);
          await ctx.emit(out.event.name, key, out.event.value as never);
        } else {
          const result = await h.perform(out.effect, ctx, event, n++);
          queue.unshift(...h.decider.decide(result, state, rc));
        }
      }
    } catch (err) {
      // decide() validates an input before any output, so past the first decision an InvalidEventError
      // is a bug in the rules: never dead-letter half-done work
      if (err instanceof InvalidEventError && n > 0) throw new Error(`rules broke after acting on ${event.name}: ${err.message}`, { cause: err });
      throw err;
    }
    return state;
  }

  async function handleBatch(events: DecodedEvent[], bctx: BatchContext): Promise<{ invalid: Failed[] }> {
    const invalid: Failed[] = [];
    const byKey = new Map<string, { event: DecodedEvent; input: I }[]>();
    for (const event of events) {
      try {
        const found = h.inputOf(event);
        if (!found) continue;
        const list = byKey.get(found.key) ?? [];
        list.push({ event, input: found.input });
        byKey.set(found.key, list);
      } catch (err) {
        if (!(err instanceof InvalidEventError)) throw err;
        invalid.push({ event, error: err });
      }
    }
    if (!byKey.size) return { invalid };
    const states = await h.load(bctx.tx, [...byKey.keys()]);
    h.prepare?.([...byKey].flatMap(([key, list]) => list.map(({ event, input }) => ({ event, key, input }))), states);
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
    const found = h.inputOf(event);
    if (!found) return;
    const states = await h.load(ctx.tx, [found.key]);
    const before = states.get(found.key) as S;
    const after = await run(event, found.key, found.input, before, ctx);
    if (after !== before) await h.save(ctx.tx, new Map([[found.key, after]]));
  }

  return { handle, handleBatch };
}

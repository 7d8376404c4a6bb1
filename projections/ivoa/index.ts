// projection.ivoa: folds dbb.ivoa.dids (DIDs and replicas) into the ObsCore table and the replica
// list behind TAP, SCS and DataLink. Invalid coordinates dead-letter the event (InvalidEventError).
import type { ConsumerSpec, DecodedEvent, DomainDeps } from '../../platform/types.ts';
import { consumerSpec } from '../../platform/consumer-spec.ts';
import { InvalidEventError } from '../../platform/errors.ts';
import { TOPIC } from '../../schemas/generated/index.ts';
import { loadIvoaConfig } from '../../domains/ivoa/config.ts';
import { fold, type RowChange } from './fold.ts';
import { applyChanges } from './apply.ts';

export const NAME = 'projection.ivoa';

export function createIvoaProjection(deps: DomainDeps): ConsumerSpec {
  const cfg = loadIvoaConfig(deps.env);
  const id = { authority: cfg.authority, publicUrl: cfg.publicUrl };
  return consumerSpec('projection', NAME, {
    topics: [TOPIC.IVOA_DIDS],
    migrations: new URL('./migrations', import.meta.url),
    async handle(event, ctx) {
      const changes = fold(event, id);
      if (changes.length) await applyChanges(ctx.tx, changes);
    },
    // Folds every event purely first (invalid ones are returned for the DLQ), then one statement per table.
    async handleBatch(events, ctx) {
      const changes: RowChange[] = [];
      const invalid: { event: DecodedEvent; error: Error }[] = [];
      for (const event of events) {
        try { changes.push(...fold(event, id)); } catch (err) {
          if (!(err instanceof InvalidEventError)) throw err;
          invalid.push({ event, error: err });
        }
      }
      if (changes.length) await applyChanges(ctx.tx, changes);
      return { invalid };
    },
  });
}

// A sample projection and processor over dbb.example.samples, used by the platform's own tests and
// benchmarks: the projection sums values per sample id; the processor re-emits each sample (outbox).
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { TOPIC } from '../../../schemas/generated/index.ts';
import { InvalidEventError } from '../../../platform/errors.ts';
import { is, type ConsumerSpec } from '../../../platform/types.ts';

const MIGRATIONS = join(dirname(fileURLToPath(import.meta.url)), 'migrations');

/** Values < 0 break the sample rules (→ DLQ); `applied` counts how often a row was written. */
export function createSampleProjection(name = 'projection.sample'): ConsumerSpec {
  return {
    name,
    kind: 'projection',
    topics: [TOPIC.EXAMPLE_SAMPLES],
    migrationsDir: MIGRATIONS,
    async handle(event, { tx }) {
      if (!is(event, 'SampleRecorded')) return;
      if (event.value.value < 0) throw new InvalidEventError(`sample ${event.value.sampleId}: value must be >= 0`);
      await tx.query(
        `INSERT INTO samples (sample_id, value) VALUES ($1, $2)
         ON CONFLICT (sample_id) DO UPDATE SET value = samples.value + EXCLUDED.value, applied = samples.applied + 1`,
        [event.value.sampleId, event.value.value]);
    },
  };
}

/** Re-emits each sample with id prefixed "echo-" through the outbox (for exactly-once downstream tests). */
export function createSampleEchoProcessor(name = 'processor.sample-echo'): ConsumerSpec {
  return {
    name,
    kind: 'processor',
    topics: [TOPIC.EXAMPLE_SAMPLES],
    async handle(event, ctx) {
      if (!is(event, 'SampleRecorded') || event.value.sampleId.startsWith('echo-') || event.value.value < 0) return;
      await ctx.emit('SampleRecorded', event.key, { sampleId: `echo-${event.value.sampleId}`, value: event.value.value, payload: Buffer.alloc(0) });
    },
  };
}

/** Both sample consumers, for a child process (spawnConsumers). */
export const createSampleConsumers = () => [createSampleProjection(), createSampleEchoProcessor()];

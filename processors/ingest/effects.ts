// The ingest effect: one attempt of the configured plugin on a stored file, behind the plugin's
// concurrency limit; and its reconciliation after a crash mid-attempt (plugin lookup, else UNKNOWN).
import { stat } from 'node:fs/promises';
import type { AttemptResult, IngestEffect } from './rules.ts';
import type { IngestPlugin, IngestFile } from './plugins/index.ts';
import type { Limiter } from '../../platform/limiter.ts';

export type { AttemptResult };

export interface IngestEffectDeps {
  plugin: IngestPlugin;
  limiter: Limiter;
  /** ms clock for durations */
  now: () => number;
}

const fileOf = (e: IngestEffect): IngestFile => ({ fileId: e.fileId, path: e.storagePath, relPath: e.relPath, checksum: e.checksum, attempt: e.attempt });

/** Never throws: every plugin failure is an outcome (a thrown error would be retried by the runtime). */
export async function runIngest(effect: IngestEffect, deps: IngestEffectDeps): Promise<AttemptResult> {
  // a repeatable plugin bounds itself (Registry: one batched statement per pool connection)
  const limited = <T>(fn: () => Promise<T>) => (deps.plugin.repeatable ? fn() : deps.limiter.run(fn));
  return limited(async () => {
    const t0 = deps.now();
    const took = () => deps.now() - t0;
    try {
      const st = await stat(effect.storagePath).catch(() => null);
      if (!st?.isFile()) return { status: 'FAILURE', durationMs: took(), error: `${effect.storagePath} is not in storage`, details: null };
      const r = await deps.plugin.ingest(fileOf(effect));
      return r.status === 'SUCCESS'
        ? { status: 'SUCCESS', durationMs: took(), error: null, details: r.details ?? null }
        : { status: 'FAILURE', durationMs: took(), error: r.error, details: r.details ?? null };
    } catch (err) {
      return { status: 'FAILURE', durationMs: took(), error: `${deps.plugin.name}: ${(err as Error).message ?? String(err)}`, details: null };
    }
  });
}

/** The ingester died during this attempt (the effect was STARTED, never DONE): ask the plugin, else UNKNOWN. */
export async function reconcileIngest(effect: IngestEffect, deps: IngestEffectDeps): Promise<AttemptResult> {
  try {
    const r = await deps.plugin.reconcile?.(fileOf(effect));
    if (r) return { status: r.status, durationMs: 0, error: r.status === 'FAILURE' ? r.error : null, details: { ...(r.details ?? {}), reconciled: true } };
  } catch (err) {
    return { status: 'UNKNOWN', durationMs: 0, error: `interrupted attempt could not be reconciled: ${(err as Error).message}`, details: null };
  }
  return { status: 'UNKNOWN', durationMs: 0, error: `the ingester stopped during attempt ${effect.attempt} (${effect.plugin}); whether the file was ingested is unknown`, details: null };
}

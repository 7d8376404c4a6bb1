// `dbb rerun tape --callbacks-failed`: appends TapeCallbackRerunRequested for every job whose callback
// delivery failed; the processor resends with the same Idempotency-Key (the lead wires this into the CLI).
import type pg from 'pg';
import type { Appender } from '../../platform/types.ts';
import { listFailedCallbacks } from '../../projections/tape/queries.ts';
import { jobKey } from './rules.ts';

export async function rerunFailedTapeCallbacks(deps: { db: Pick<pg.Pool, 'query'>; appender: Appender }, opts: { actor?: string | null; jobIds?: number[] } = {}): Promise<number[]> {
  const failed = await listFailedCallbacks(deps.db);
  const wanted = opts.jobIds ? failed.filter((id) => opts.jobIds!.includes(id)) : failed;
  await Promise.all(wanted.map((jobId) => deps.appender.append('TapeCallbackRerunRequested', jobKey(jobId), { jobId }, { actor: opts.actor ?? null })));
  return wanted;
}

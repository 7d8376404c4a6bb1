// The reconcile effect of a quiet job: asks the tape library (Scout file status) about the files whose
// notifications never came, and resubmits batchstage for those still on tape. Reads and an idempotent
// call only, so it is safe to repeat after a crash; its result returns as TapeFilesReconciled.
import type { ScoutClient } from '../../domains/tape/scout.ts';
import type { ReconcileResult } from './rules.ts';

/** On disk cache (no offline blocks) → staged, an error the library reports (a tape read error) →
 *  failed, else still pending; batchstage again for the pending ones (idempotent on the job key: a
 *  library that restarted and forgot the request stages them again). No answer → ok: false. */
export async function reconcileFiles(jobKey: string, files: string[], deps: { scout: ScoutClient; notificationsTopic: string }, concurrency: number): Promise<ReconcileResult> {
  const staged: string[] = [];
  const failed: { file: string; error: string }[] = [];
  const pending: string[] = [];
  let next = 0;
  const worker = async () => {
    while (next < files.length) {
      const file = files[next++]!;
      const info = await deps.scout.fileInfo(file);
      if (typeof info.error === 'string' && info.error) failed.push({ file, error: info.error });
      else if (Number(info.offlineblocks ?? 1) === 0) staged.push(file);
      else pending.push(file);
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(concurrency, files.length) }, worker));
    if (pending.length) await deps.scout.batchStage(pending, jobKey, deps.notificationsTopic);
  } catch (err) {
    return { ok: false, error: (err as Error).message };
  }
  return { ok: true, staged, failed, pending: pending.length, checked: files.length };
}

// Pure fold of dbb.tape.jobs into row changes for projection_tape (see apply.ts): job rows, file rows,
// callback state, and the adapter heartbeat carried by the timeout tick. Unknown events fold to [].
import type { DecodedEvent } from '../../platform/types.ts';

export type RowChange =
  | { op: 'jobRequested'; jobId: number; notifyUrl: string; created: number }
  | { op: 'jobCreated'; jobId: number; files: string[]; deadline: number }
  | { op: 'jobSet'; jobId: number; set: { submitted?: boolean; callback_status?: string; callback_attempts?: number; callback_error?: string | null } }
  | { op: 'jobFinished'; jobId: number; status: 'COMPLETED' | 'FAILED'; at: number; returnCode: number; comment: string; counts?: { ready: number; error: number } }
  | { op: 'files'; jobId: number; at: number; files: { name: string; ready: boolean; error: string | null }[] }
  | { op: 'jobCancelled'; jobId: number }
  | { op: 'released'; jobId: number; at: number; files: string[] }
  | { op: 'heartbeat'; at: number; notificationsConsumed: number; cache: string | null };

/** Each file once, first outcome wins (staged before failed), as the processor counts them. */
function firstOutcomes(staged: string[], failed: { file: string; error: string }[]) {
  const out = new Map<string, { name: string; ready: boolean; error: string | null }>();
  for (const name of staged) if (!out.has(name)) out.set(name, { name, ready: true, error: null });
  for (const f of failed) if (!out.has(f.file)) out.set(f.file, { name: f.file, ready: false, error: f.error });
  return [...out.values()];
}

export function fold(event: DecodedEvent): RowChange[] {
  const v = event.value as any;
  const at = event.meta.occurredAt;
  switch (event.name) {
    case 'TapeJobRequested': return [{ op: 'jobRequested', jobId: v.jobId, notifyUrl: v.notifyUrl, created: at }];
    case 'TapeJobCreated': return [{ op: 'jobCreated', jobId: v.jobId, files: v.files, deadline: v.deadline }];
    case 'TapeJobCreationFailed': return [{ op: 'jobFinished', jobId: v.jobId, status: 'FAILED', at, returnCode: v.returnCode, comment: v.comment }];
    case 'TapeJobStageSubmitted': return [{ op: 'jobSet', jobId: v.jobId, set: { submitted: true } }];
    case 'TapeFilesStaged':
    case 'TapeFilesReconciled': return [{ op: 'files', jobId: v.jobId, at, files: firstOutcomes(v.staged, v.failed) }];
    case 'TapeJobCompleted':
      return [{ op: 'jobFinished', jobId: v.jobId, status: 'COMPLETED', at, returnCode: v.returnCode, comment: v.comment, counts: { ready: v.readyFiles, error: v.errorFiles } }];
    case 'TapeJobCancelled': return [{ op: 'jobCancelled', jobId: v.jobId }];
    case 'TapeFilesReleased': return [{ op: 'released', jobId: v.jobId, at, files: v.files }];
    case 'TapeCallbackDelivered': return [{ op: 'jobSet', jobId: v.jobId, set: { callback_status: 'DELIVERED', callback_attempts: v.attempts, callback_error: null } }];
    case 'TapeCallbackFailed': return [{ op: 'jobSet', jobId: v.jobId, set: { callback_status: 'FAILED', callback_attempts: v.attempts, callback_error: v.error } }];
    case 'TapeJobTimeoutChecked': return [{ op: 'heartbeat', at, notificationsConsumed: v.notificationsConsumed, cache: v.cache }];
    default: return [];
  }
}

// Pure fold of staging events into row changes: the creating StagingRequested upserts a request row,
// an outcome completes it only while it is QUEUED, a rerun requeues it only while it is FAILURE, each
// only from a later offset (duplicates and replays change nothing); every event also appends one
// line to the log view (seed: /logs).

export interface FoldInput {
  name: string;
  value: any;
  meta: { eventId: string; occurredAt: number; actor: string | null };
  offset: string;
}

export interface RequestRow {
  requestId: string; method: string; username: string; localPathOnStorage: string; relativePath: string;
  actor: string | null; requestedAt: number; offset: string; notifyUrl: string | null;
}
export interface Completion {
  requestId: string; status: 'SUCCESS' | 'FAILURE'; skipped: boolean; reconciled: boolean; sourcePath: string | null; sha256: string | null;
  destination: string | null; sizeBytes: number | null; errorCode: string | null; errorReason: string | null;
  startedAt: number | null; finishedAt: number | null; offset: string;
}
export interface LogRow { eventId: string; at: number; level: 'INFO' | 'ERROR'; requestId: string; event: string; message: string }

export type RowChange =
  | { op: 'upsertRequest'; row: RequestRow }
  | { op: 'completeRequest'; row: Completion }
  | { op: 'rerunRequest'; row: { requestId: string; offset: string } }
  | { op: 'setWaiting'; row: { requestId: string; waiting: boolean; offset: string } }
  | { op: 'setNotified'; row: { requestId: string; notifyStatus: 'DELIVERED' | 'FAILED'; offset: string } }
  | { op: 'appendLog'; row: LogRow };

export const HANDLED = [
  'StagingRequested', 'FileStaged', 'StagingFailed', 'StagingRerunRequested', 'StagingRerunRefused',
  'StagingWaiting', 'StagingStarted', 'StagingNotificationDelivered', 'StagingNotificationFailed',
] as const;

export function fold(e: FoldInput): RowChange[] {
  const v = e.value;
  const log = (level: LogRow['level'], message: string): RowChange => ({
    op: 'appendLog', row: { eventId: e.meta.eventId, at: e.meta.occurredAt, level, requestId: v.requestId, event: e.name, message },
  });
  switch (e.name) {
    case 'StagingRequested':
      return [
        { op: 'upsertRequest', row: { requestId: v.requestId, method: v.method, username: v.username, localPathOnStorage: v.localPathOnStorage, relativePath: v.relativePath, actor: e.meta.actor, requestedAt: e.meta.occurredAt, offset: e.offset, notifyUrl: v.notifyUrl ?? null } },
        log('INFO', `Received request ${v.requestId} with method=${v.method}, username=${v.username}, local_path_on_storage=${v.localPathOnStorage}, relative_path=${v.relativePath}`),
      ];
    case 'FileStaged':
      return [
        { op: 'completeRequest', row: { requestId: v.requestId, status: 'SUCCESS', skipped: v.skipped, reconciled: v.reconciled, sourcePath: v.sourcePath, sha256: v.sha256 ?? null, destination: v.destination, sizeBytes: v.sizeBytes, errorCode: null, errorReason: null, startedAt: v.startedAt, finishedAt: v.finishedAt, offset: e.offset } },
        log('INFO', v.skipped
          ? `Data already available at ${v.destination} (request ${v.requestId}, user ${v.username})`
          : `Data staged for user ${v.username} with method ${v.method} (request ${v.requestId}${v.destination ? `, ${v.destination}` : ''}, ${v.sizeBytes} bytes${v.reconciled ? ', reconciled after restart' : ''})`),
      ];
    case 'StagingFailed':
      return [
        { op: 'completeRequest', row: { requestId: v.requestId, status: 'FAILURE', skipped: false, reconciled: false, sourcePath: null, sha256: null, destination: null, sizeBytes: null, errorCode: v.code, errorReason: v.reason, startedAt: v.startedAt, finishedAt: v.finishedAt, offset: e.offset } },
        log('ERROR', `Staging failed for user ${v.username} with method ${v.method} (request ${v.requestId}): ${v.code}: ${v.reason}`),
      ];
    case 'StagingRerunRequested':
      return [
        { op: 'rerunRequest', row: { requestId: v.requestId, offset: e.offset } },
        log('INFO', `Rerun of request ${v.requestId} requested${v.reason ? `: ${v.reason}` : ''}`),
      ];
    case 'StagingWaiting':
      return [
        { op: 'setWaiting', row: { requestId: v.requestId, waiting: true, offset: e.offset } },
        log('INFO', `Request ${v.requestId} of user ${v.username} waits: ${v.active} of the user's requests are active (place ${v.position} in the queue)`),
      ];
    case 'StagingStarted':
      return [
        { op: 'setWaiting', row: { requestId: v.requestId, waiting: false, offset: e.offset } },
        log('INFO', `Request ${v.requestId} of user ${v.username} starts (request ${v.after} ended)`),
      ];
    case 'StagingNotificationDelivered':
      return [
        { op: 'setNotified', row: { requestId: v.requestId, notifyStatus: 'DELIVERED', offset: e.offset } },
        log('INFO', `Outcome of request ${v.requestId} delivered to notify_url (HTTP ${v.httpStatus}, ${v.attempts} attempt(s), delivery ${v.deliveryId})`),
      ];
    case 'StagingNotificationFailed':
      return [
        { op: 'setNotified', row: { requestId: v.requestId, notifyStatus: 'FAILED', offset: e.offset } },
        log('ERROR', `Outcome of request ${v.requestId} not delivered to notify_url after ${v.attempts} attempt(s): ${v.error}`),
      ];
    case 'StagingRerunRefused': // the request row is unchanged (the processor ran nothing)
      return [log('ERROR', `Rerun of request ${v.requestId} refused: ${v.code}: ${v.reason}`)];
    default:
      return [];
  }
}

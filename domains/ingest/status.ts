// The seed's ingest status words and the one table of legal transitions, shared by the processor's
// evolve and the projection's fold so both agree on a file's current status.
import type { EventMap } from '../../schemas/generated/index.ts';

export const STATUSES = ['UNTRIED', 'PENDING', 'SUCCESS', 'FAILURE', 'UNKNOWN', 'RERUN', 'BACKFILL'] as const;
export type IngestStatus = (typeof STATUSES)[number];
export type StatusOrNone = IngestStatus | 'NONE';

/** from → statuses it may move to. RERUN → FAILURE is the refusal of a rerun for a file that is not in storage. */
export const TRANSITIONS: Record<StatusOrNone, readonly IngestStatus[]> = {
  NONE: ['UNTRIED', 'BACKFILL', 'FAILURE'],
  UNTRIED: ['PENDING'],
  PENDING: ['SUCCESS', 'FAILURE', 'UNKNOWN'],
  SUCCESS: ['RERUN'],
  FAILURE: ['RERUN'],
  UNKNOWN: ['RERUN'],
  BACKFILL: ['RERUN'],
  RERUN: ['PENDING', 'FAILURE'],
};

export const canMove = (from: StatusOrNone, to: IngestStatus) => TRANSITIONS[from].includes(to);

export const INGEST_EVENTS = [
  'FileDiscovered', 'FileMoved', 'DuplicateFound', 'FileConflictFound', 'FileBackfilled',
  'IngestRerunRequested', 'IngestQueued', 'IngestAttempted', 'FileQuarantined', 'FileRestored',
] as const;
export type IngestEventName = (typeof INGEST_EVENTS)[number];
export type IngestEvent = { [N in IngestEventName]: { name: N; value: EventMap[N] } }[IngestEventName];

export const isIngestEvent = (e: { name: string }): e is IngestEvent => (INGEST_EVENTS as readonly string[]).includes(e.name);

/** The ingest status an event sets, or null for finder events that do not change it. */
export function statusOf(e: IngestEvent): IngestStatus | null {
  switch (e.name) {
    case 'FileMoved': return 'UNTRIED';
    case 'FileBackfilled': return 'BACKFILL';
    case 'FileConflictFound': return 'FAILURE';
    case 'IngestRerunRequested': return 'RERUN';
    case 'IngestQueued': return 'PENDING';
    case 'IngestAttempted': return STATUSES.includes(e.value.status as IngestStatus) ? (e.value.status as IngestStatus) : null;
    case 'FileDiscovered':
    case 'DuplicateFound':
    case 'FileQuarantined': // stays FAILURE: where the file is, not how its ingest went
    case 'FileRestored': // followed by IngestQueued
      return null;
    default: {
      const never: never = e;
      return never;
    }
  }
}

// Pure fold of dbb.ingest.files into row changes for projection_ingest.files / file_events.
// Status changes follow the same TRANSITIONS table as the processor, so "current status" here is the
// processor's view; every event, legal or not, lands in the history.
import type { DecodedEvent } from '../../platform/types.ts';
import { TRANSITIONS, isIngestEvent, statusOf, type IngestEvent, type IngestStatus, type StatusOrNone } from '../../domains/ingest/status.ts';

export interface FileFields {
  relPath?: string;
  checksum?: string;
  size?: number;
  sourcePath?: string;
  storagePath?: string;
  inStorage?: boolean;
  attempts?: number;
  plugin?: string;
  lastError?: string | null;
  finderAction?: string;
  discoveredAt?: number;
  /** null: back in storage */
  quarantinePath?: string | null;
}

export type RowChange =
  | {
      op: 'file';
      /** creating events upsert; later ones only update an existing row */
      upsert: boolean;
      fileId: string;
      /** Kafka offset of the event: the guard (files.last_offset) */
      offset: string;
      at: number;
      fields: FileFields;
      status: { to: IngestStatus; from: StatusOrNone[] } | null;
    }
  | {
      op: 'event';
      eventId: string; fileId: string; offset: string; event: string; status: IngestStatus | null; occurredAt: number; actor: string | null;
      plugin: string | null; attempt: number | null; durationMs: number | null; error: string | null; details: unknown;
    };

const allowedFrom = (to: IngestStatus) => (Object.keys(TRANSITIONS) as StatusOrNone[]).filter((f) => TRANSITIONS[f].includes(to));

function fieldsOf(e: IngestEvent): { upsert: boolean; fields: FileFields } {
  switch (e.name) {
    case 'FileDiscovered': {
      const v = e.value;
      return { upsert: true, fields: { relPath: v.relPath, checksum: v.checksum, size: v.size, sourcePath: v.sourcePath, discoveredAt: v.meta.occurredAt } };
    }
    case 'FileMoved': {
      const v = e.value;
      return { upsert: true, fields: { relPath: v.relPath, checksum: v.checksum, size: v.size, sourcePath: v.sourcePath, storagePath: v.storagePath, inStorage: true, finderAction: 'Move' } };
    }
    case 'DuplicateFound': {
      const v = e.value;
      return { upsert: true, fields: { relPath: v.relPath, checksum: v.checksum, size: v.size, storagePath: v.storagePath, inStorage: true, finderAction: v.action } };
    }
    case 'FileConflictFound': {
      const v = e.value;
      return { upsert: true, fields: { relPath: v.relPath, checksum: v.checksum, size: v.size, sourcePath: v.sourcePath, lastError: v.reason, finderAction: 'Conflict' } };
    }
    case 'FileBackfilled': {
      const v = e.value;
      return { upsert: true, fields: { relPath: v.relPath, checksum: v.checksum, size: v.size, storagePath: v.storagePath, inStorage: true, finderAction: 'Backfill' } };
    }
    case 'IngestQueued': return { upsert: false, fields: { attempts: e.value.attempt, plugin: e.value.plugin } };
    case 'IngestAttempted': return { upsert: false, fields: { plugin: e.value.plugin, lastError: e.value.error } };
    case 'IngestRerunRequested': return { upsert: false, fields: {} };
    case 'FileQuarantined': return { upsert: false, fields: { inStorage: false, quarantinePath: e.value.quarantinePath } };
    case 'FileRestored': return { upsert: false, fields: { inStorage: true, quarantinePath: null } };
  }
}

export function fold(event: DecodedEvent): RowChange[] {
  if (!isIngestEvent(event)) return [];
  const e = { name: event.name, value: event.value } as IngestEvent;
  const to = statusOf(e);
  const { upsert, fields } = fieldsOf(e);
  const v = e.value as unknown as Record<string, unknown>;
  const attempt = typeof v.attempt === 'number' ? v.attempt : null;
  return [
    { op: 'file', upsert, fileId: e.value.fileId, offset: event.offset, at: event.meta.occurredAt, fields, status: to ? { to, from: allowedFrom(to).filter((f) => upsert || f !== 'NONE') } : null },
    {
      op: 'event', eventId: event.meta.eventId, fileId: e.value.fileId, offset: event.offset, event: e.name, status: to, occurredAt: event.meta.occurredAt,
      actor: event.meta.actor, plugin: typeof v.plugin === 'string' ? v.plugin : null, attempt,
      durationMs: typeof v.durationMs === 'number' ? v.durationMs : null,
      error: typeof v.error === 'string' ? v.error : typeof v.reason === 'string' && e.name === 'FileConflictFound' ? v.reason : null,
      details: detailsOf(e),
    },
  ];
}

function detailsOf(e: IngestEvent): unknown {
  if (e.name === 'IngestAttempted') return e.value.details ? parseDetails(e.value.details) : null;
  if (e.name === 'DuplicateFound') return { action: e.value.action };
  if (e.name === 'FileQuarantined') return { storagePath: e.value.storagePath, quarantinePath: e.value.quarantinePath, reasonPath: e.value.reasonPath };
  if (e.name === 'FileRestored') return { quarantinePath: e.value.quarantinePath, storagePath: e.value.storagePath };
  return null;
}

function parseDetails(s: string): unknown {
  try { return JSON.parse(s); } catch { return { raw: s }; }
}

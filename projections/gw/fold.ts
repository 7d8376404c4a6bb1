// Pure fold of the gw outcome events (dbb.gw.datastore) into row changes for projection_gw. Every change
// of an event is guarded by the datastore's stored offset (see apply.ts), so duplicates and replays do nothing.
import { is, type DecodedEvent } from '../../platform/types.ts';

export interface DatastoreSet {
  dstatus?: 'OPERATIONAL' | 'FROZEN';
  n_itm?: number;
  buff_size?: number;
  user?: string;
  token_owner?: string;
  last_archive?: string;
}

export type RowChange =
  | { op: 'datastore'; datastoreId: string; set: DatastoreSet }
  | { op: 'addFile'; datastoreId: string; fileName: string; bytes: number; nSamples: number; t0: number; dt: number; storedAt: number }
  | { op: 'archiveFiles'; datastoreId: string; archivePath: string }
  | { op: 'history'; datastoreId: string; eventName: string; occurredAt: number; correlationId: string; actor: string | null; body: Record<string, unknown> };

function historyOf(event: DecodedEvent): RowChange {
  const { meta, ...body } = event.value as { meta: unknown; datastoreId: string };
  void meta;
  return {
    op: 'history', datastoreId: body.datastoreId, eventName: event.name, occurredAt: event.meta.occurredAt,
    correlationId: event.meta.correlationId, actor: event.meta.actor, body,
  };
}

export function fold(event: DecodedEvent): RowChange[] {
  if (is(event, 'GwChunkStored')) {
    const v = event.value;
    return [
      { op: 'datastore', datastoreId: v.datastoreId, set: { dstatus: 'OPERATIONAL', n_itm: v.nItm, buff_size: v.buffSize } },
      { op: 'addFile', datastoreId: v.datastoreId, fileName: v.fileName, bytes: v.bytes, nSamples: v.nSamples, t0: v.t0, dt: v.dt, storedAt: v.meta.occurredAt },
      historyOf(event),
    ];
  }
  if (is(event, 'GwChunkFailed')) {
    return [{ op: 'datastore', datastoreId: event.value.datastoreId, set: { dstatus: 'FROZEN' } }, historyOf(event)];
  }
  if (is(event, 'BufferFrozen')) {
    const v = event.value;
    return [
      { op: 'datastore', datastoreId: v.datastoreId, set: { dstatus: 'FROZEN', n_itm: v.n_f, buff_size: v.bt_wrt, user: v.user, token_owner: v.tokenOwner } },
      historyOf(event),
    ];
  }
  if (is(event, 'TrainDeferred')) {
    const v = event.value;
    return [{ op: 'datastore', datastoreId: v.datastoreId, set: { dstatus: 'OPERATIONAL', user: v.user, token_owner: v.tokenOwner } }, historyOf(event)];
  }
  if (is(event, 'BufferFlushed')) {
    const v = event.value;
    return [
      { op: 'datastore', datastoreId: v.datastoreId, set: { dstatus: 'OPERATIONAL', n_itm: 0, buff_size: 0, last_archive: v.archivePath } },
      { op: 'archiveFiles', datastoreId: v.datastoreId, archivePath: v.archivePath },
      historyOf(event),
    ];
  }
  return [];
}

// Pure fold of dbb.ivoa.dids events into row changes for the ObsCore and replica tables.
// Every change carries the event's log position (per-DID order: the key is scope:name), and the SQL
// applies it only over an older position, so duplicates and replays change nothing.
import type { DecodedEvent } from '../../platform/types.ts';
import { InvalidEventError } from '../../platform/errors.ts';
import { obscoreRow, type DidIdentity, type ObscoreRow } from './obscore.ts';

export type RowChange =
  | { op: 'upsertObscore'; scope: string; name: string; offset: bigint; row: ObscoreRow }
  | { op: 'deleteDid'; scope: string; name: string; offset: bigint }
  | { op: 'upsertReplica'; scope: string; name: string; rse: string; offset: bigint; accessUrl: string; site: string; siteLat: number; siteLon: number }
  | { op: 'removeReplica'; scope: string; name: string; rse: string; offset: bigint };

export const HANDLED = ['DidRegistered', 'DidMetadataUpdated', 'DidDeleted', 'ReplicaAdded', 'ReplicaRemoved'] as const;

/** Position of an event in its partition's log; comparable for all events of one DID (the key). */
export const offsetOf = (event: Pick<DecodedEvent, 'offset'>) => BigInt(event.offset);

function checkSite(lat: number, lon: number, did: string): void {
  if (!Number.isFinite(lat) || lat < -90 || lat > 90) throw new InvalidEventError(`replica of ${did}: invalid site coordinates: latitude ${lat} is outside [-90, 90] deg`);
  if (!Number.isFinite(lon) || lon < -180 || lon > 360) throw new InvalidEventError(`replica of ${did}: invalid site coordinates: longitude ${lon} is outside [-180, 360] deg`);
}

export function fold(event: DecodedEvent, id: DidIdentity): RowChange[] {
  const offset = offsetOf(event);
  const v = event.value as any;
  if (event.name === 'DidRegistered' || event.name === 'DidMetadataUpdated' || event.name === 'DidDeleted'
    || event.name === 'ReplicaAdded' || event.name === 'ReplicaRemoved') {
    if (!v.scope || !v.name) throw new InvalidEventError(`${event.name}: scope and name must not be empty`);
  }
  switch (event.name) {
    case 'DidRegistered':
      return [{ op: 'upsertObscore', scope: v.scope, name: v.name, offset, row: obscoreRow(v.scope, v.name, v.metadata, id) }];
    case 'DidMetadataUpdated':
      // The seed's trigger deletes and re-inserts: the new metadata replaces the whole row.
      return [{ op: 'upsertObscore', scope: v.scope, name: v.name, offset, row: obscoreRow(v.scope, v.name, v.metadata, id) }];
    case 'DidDeleted':
      return [{ op: 'deleteDid', scope: v.scope, name: v.name, offset }];
    case 'ReplicaAdded':
      checkSite(v.siteLat, v.siteLon, `${v.scope}:${v.name}`);
      if (!v.rse) throw new InvalidEventError(`ReplicaAdded for ${v.scope}:${v.name}: rse must not be empty`);
      return [{ op: 'upsertReplica', scope: v.scope, name: v.name, rse: v.rse, offset, accessUrl: v.accessUrl, site: v.site, siteLat: v.siteLat, siteLon: v.siteLon }];
    case 'ReplicaRemoved':
      return [{ op: 'removeReplica', scope: v.scope, name: v.name, rse: v.rse, offset }];
    default:
      return [];
  }
}

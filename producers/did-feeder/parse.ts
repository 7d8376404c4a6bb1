// Pure: one line of a JSON-lines DID/replica dump → the ivoa events it stands for.
// Line forms: {"op":"did"|"set_metadata"|"delete_did"|"replica"|"remove_replica", ...}, or a Rucio-style
// DID record {"scope","name","type","metadata":{...},"replicas":[{"rse","url","site","lat","lon"}]}.
import type { BodyOf } from '../../platform/types.ts';

export type FeedEvent = { [N in 'DidRegistered' | 'DidMetadataUpdated' | 'DidDeleted' | 'ReplicaAdded' | 'ReplicaRemoved']: { name: N; key: string; body: BodyOf<N> } }[
  'DidRegistered' | 'DidMetadataUpdated' | 'DidDeleted' | 'ReplicaAdded' | 'ReplicaRemoved'];

export class DumpLineError extends Error {}

const str = (o: Record<string, unknown>, k: string, alt?: string): string => {
  const v = o[k] ?? (alt ? o[alt] : undefined);
  if (typeof v !== 'string' || v === '') throw new DumpLineError(`"${k}" must be a non-empty string`);
  return v;
};
const numOf = (o: Record<string, unknown>, k: string, alt: string): number => {
  const v = o[k] ?? o[alt];
  const n = typeof v === 'string' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isFinite(n)) throw new DumpLineError(`"${k}" must be a number`);
  return n;
};
const metadataOf = (o: Record<string, unknown>) => {
  const m = o.metadata ?? {};
  return typeof m === 'string' ? m : JSON.stringify(m);
};

function replica(scope: string, name: string, r: Record<string, unknown>): FeedEvent {
  return {
    name: 'ReplicaAdded', key: `${scope}:${name}`,
    body: { scope, name, rse: str(r, 'rse'), accessUrl: str(r, 'access_url', 'url'), site: str(r, 'site'), siteLat: numOf(r, 'lat', 'site_lat'), siteLon: numOf(r, 'lon', 'site_lon') },
  };
}

export function parseDumpLine(line: string): FeedEvent[] {
  if (line.trim() === '') return [];
  let o: Record<string, unknown>;
  try { o = JSON.parse(line); } catch (err) { throw new DumpLineError(`not JSON: ${(err as Error).message}`); }
  if (!o || typeof o !== 'object' || Array.isArray(o)) throw new DumpLineError('a line must be a JSON object');
  const scope = str(o, 'scope');
  const name = str(o, 'name');
  const key = `${scope}:${name}`;
  switch (o.op ?? 'did') {
    case 'did': {
      const out: FeedEvent[] = [{ name: 'DidRegistered', key, body: { scope, name, didType: typeof o.type === 'string' ? o.type : 'FILE', metadata: metadataOf(o) } }];
      if (o.replicas !== undefined && !Array.isArray(o.replicas)) throw new DumpLineError('"replicas" must be a list');
      for (const r of (o.replicas as Record<string, unknown>[] | undefined) ?? []) out.push(replica(scope, name, r));
      return out;
    }
    case 'set_metadata': return [{ name: 'DidMetadataUpdated', key, body: { scope, name, metadata: metadataOf(o) } }];
    case 'delete_did': return [{ name: 'DidDeleted', key, body: { scope, name } }];
    case 'replica': return [replica(scope, name, o)];
    case 'remove_replica': return [{ name: 'ReplicaRemoved', key, body: { scope, name, rse: str(o, 'rse') } }];
    default: throw new DumpLineError(`unknown op ${JSON.stringify(o.op)}`);
  }
}


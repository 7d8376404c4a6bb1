// Storage events: the JSON a storage system emits when a file arrives (S3/MinIO bucket notifications,
// or a plain `{"path": ...}`), read by the finder from INGEST_FINDER_EVENTS_TOPIC. Pure: parsing, the
// record's dedupe id, and the lexical path rules (the same as staging's source paths: no '..', no
// empty or '.' components, absolute only below the root). Links are checked on the filesystem later.
import { derivedId } from '../../platform/ids.ts';
import { checkSourcePath } from '../staging/paths.ts';

export const DEFAULT_EVENTS_TOPIC = 'dbb.ingest.storage-events';

/** One storage record: the files it announces (raw, as the storage system names them). */
export interface StorageEvent {
  shape: 's3' | 'path';
  /** dedupe key: the same notification delivered twice gets the same id */
  eventId: string;
  occurredAt: number;
  /** paths relative to the buffer root, or absolute below it */
  paths: string[];
  /** records that announce no arrival (e.g. s3:ObjectRemoved:*), skipped */
  skipped: number;
}

export class StorageEventError extends Error {}

/** Where the record was read: the fallback dedupe key of a plain `{path}` without an `id`. */
export interface RecordPosition { topic: string; partition: number; offset: string; timestamp: number }

const isObj = (v: unknown): v is Record<string, any> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** S3 URL-encodes object keys in notifications ('+' for a space). */
function s3Key(raw: string): string {
  try { return decodeURIComponent(raw.replace(/\+/g, '%20')); } catch { throw new StorageEventError(`object key is not valid URL encoding: ${raw.slice(0, 200)}`); }
}

/** `bucketDir`: the bucket name is the first directory below the root (MinIO's filesystem layout). */
export function parseStorageEvent(value: Buffer | null, at: RecordPosition, opts: { bucketDir?: boolean } = {}): StorageEvent {
  if (!value?.length) throw new StorageEventError('empty record');
  let m: unknown;
  try { m = JSON.parse(value.toString('utf8')); } catch { throw new StorageEventError('not JSON'); }
  if (!isObj(m)) throw new StorageEventError('not a JSON object');
  if (Array.isArray(m.Records)) {
    const paths: string[] = [];
    const ids: string[] = [];
    let skipped = 0;
    let occurredAt = at.timestamp;
    for (const r of m.Records) {
      const name = isObj(r) ? r.eventName : undefined;
      const obj = isObj(r) && isObj(r.s3) && isObj(r.s3.object) ? r.s3.object : null;
      if (typeof name !== 'string' || !obj || typeof obj.key !== 'string') throw new StorageEventError('an S3 record needs eventName and s3.object.key');
      if (!/^(s3:)?ObjectCreated:/.test(name)) { skipped++; continue; }
      const key = s3Key(obj.key);
      const bucket = isObj(r.s3.bucket) && typeof r.s3.bucket.name === 'string' ? r.s3.bucket.name : '';
      if (opts.bucketDir && !bucket) throw new StorageEventError('s3.bucket.name missing (finder.events.bucketDir is on)');
      paths.push(opts.bucketDir ? `${bucket}/${key}` : key);
      ids.push([bucket, key, obj.sequencer ?? obj.eTag ?? r.eventTime ?? ''].join('\u0001'));
      const t = Date.parse(r.eventTime);
      if (Number.isFinite(t)) occurredAt = t;
    }
    const eventId = derivedId('dbb.ingest.storage-event', 's3', ...(ids.length ? ids : [at.topic, at.partition, at.offset]));
    return { shape: 's3', eventId, occurredAt, paths, skipped };
  }
  if (typeof m.path === 'string') {
    if (!m.path) throw new StorageEventError('path is empty');
    const id = typeof m.id === 'string' && m.id ? ['id', m.id] : [at.topic, at.partition, at.offset];
    return { shape: 'path', eventId: derivedId('dbb.ingest.storage-event', 'path', ...id), occurredAt: at.timestamp, paths: [m.path], skipped: 0 };
  }
  throw new StorageEventError('neither an S3/MinIO notification (Records[].s3.object.key) nor {"path": ...}');
}

export type EventPath = { ok: true; rel: string; components: string[] } | { ok: false; code: string; reason: string };

/** A path of a storage event below the buffer root `source`: relative to it, or absolute inside it. */
export function resolveEventPath(path: string, source: string): EventPath {
  const c = checkSourcePath(path, source.replace(/\/+$/, ''));
  if (!c.ok) return { ok: false, code: c.code, reason: `${c.reason.replace('local_path_on_storage', 'path').replace('Source path', 'path').replace('storage root', 'buffer root')}` };
  return { ok: true, rel: c.components.join('/'), components: c.components };
}

// Ids of the ingest domain, shared by the finder (which mints them), the backfill and the tests.
import { derivedId } from '../../platform/ids.ts';

/** The file id: same relative path + same content = same file (so a re-delivered copy joins its history). */
export const fileIdOf = (rel: string, checksum: string) => derivedId('dbb.ingest.file', rel, checksum);

// Where a datastore keeps its files under GW_DATA_DIR: the gateway writes a chunk into incoming/, the
// processor renames it into data/ (or removes it), the strain route reads data/ and archive/.
import { join } from 'node:path';

/** data/ (the buffer), archive/<batch>/ (one directory per /cleanbuf), tmp/ (partial writes), incoming/
 *  (chunk files the gateway wrote, not yet decided by the processor; an archive leaves them alone). */
export function datastorePaths(root: string, datastoreId: string) {
  const base = join(root, datastoreId);
  return { base, data: join(base, 'data'), archive: join(base, 'archive'), tmp: join(base, 'tmp'), incoming: join(base, 'incoming') };
}

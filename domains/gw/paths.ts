// Where a datastore keeps its files under GW_DATA_DIR: the processor writes them, the strain route reads them.
import { join } from 'node:path';

/** data/ (the buffer), archive/<batch>/ (one directory per /cleanbuf), tmp/ (partial writes). */
export function datastorePaths(root: string, datastoreId: string) {
  const base = join(root, datastoreId);
  return { base, data: join(base, 'data'), archive: join(base, 'archive'), tmp: join(base, 'tmp') };
}

// Where a DID's file is readable on this machine, for SODA: <storage root>/<scope>/<name>, or a replica
// whose access URL falls under a configured replica path (IVOA_REPLICA_PATHS prefix=directory).
import { existsSync, statSync } from 'node:fs';
import { resolve, sep } from 'node:path';
import type { ReplicaPath } from './config.ts';

/** `rel` under `dir`, or null when it would leave it (.., absolute parts, NUL). */
export function within(dir: string, rel: string): string | null {
  if (rel.includes('\0')) return null;
  const p = resolve(dir, rel.replace(/^\/+/, ''));
  return p === dir || p.startsWith(dir.endsWith(sep) ? dir : dir + sep) ? p : null;
}

const isFile = (p: string | null): p is string => !!p && existsSync(p) && statSync(p).isFile();

/** The local path of a DID's file, or null when no copy is held here. */
export function localFileOf(storageRoot: string, replicaPaths: ReplicaPath[], scope: string, name: string, replicaUrls: string[]): string | null {
  const direct = within(storageRoot, `${scope}/${name}`);
  if (isFile(direct)) return direct;
  for (const url of replicaUrls) {
    for (const { prefix, dir } of replicaPaths) {
      if (!url.startsWith(prefix)) continue;
      let rest: string;
      try { rest = decodeURIComponent(url.slice(prefix.length).split(/[?#]/)[0]); } catch { continue; }
      const p = within(dir, rest);
      if (isFile(p)) return p;
    }
  }
  return null;
}

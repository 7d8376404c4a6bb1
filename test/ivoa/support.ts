// Helpers for the ivoa tests: a deterministic DID dump, the brute-force cone check, and the pyvo client.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { greatCircleDeg } from '../../projections/ivoa/geo.ts';
import { loadConfig } from '../../platform/config.ts';
import { dachsInstalled, ensureDachs, lockTap, pointTapAt, setup as setupDachs, tapConfigured } from '../../infra/tap/dachs.ts';

export const SITES = {
  UKSRC: { lat: 52.2, lon: 0.12 },
  CHSRC: { lat: 46.23, lon: 6.05 },
  AUSRC: { lat: -31.95, lon: 115.86 },
  CNSRC: { lat: 31.2, lon: 121.5 },
} as const;
export type SiteName = keyof typeof SITES;

export interface FixtureDid { scope: string; name: string; ra: number; dec: number; replicas: { rse: string; site: SiteName; url: string }[] }

/** Mulberry32: a tiny seeded PRNG so every run loads the same sky. */
export function prng(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = seed;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `n` DIDs scattered over ra 10..20, dec -5..5 (plus one near the pole and one across ra=0), 1–3 replicas each. */
export function makeDids(n: number, seed = 42): FixtureDid[] {
  const rnd = prng(seed);
  const names = Object.keys(SITES) as SiteName[];
  const out: FixtureDid[] = [];
  for (let i = 0; i < n; i++) {
    const ra = i === 0 ? 359.95 : i === 1 ? 0.05 : i === 2 ? 200 : 10 + rnd() * 10;
    const dec = i === 2 ? 89.9 : i < 2 ? 0 : -5 + rnd() * 10;
    const k = 1 + Math.floor(rnd() * 3);
    const sites = [...names].sort(() => rnd() - 0.5).slice(0, k);
    out.push({
      scope: 'testing', name: `obs-${String(i).padStart(5, '0')}.fits`, ra, dec,
      replicas: sites.map((s) => ({ rse: `${s}_DISK`, site: s, url: `https://${s.toLowerCase()}.example/testing/obs-${i}.fits` })),
    });
  }
  return out;
}

export function dumpLine(d: FixtureDid): string {
  return JSON.stringify({
    scope: d.scope, name: d.name, type: 'FILE',
    metadata: { s_ra: d.ra, s_dec: d.dec, dataproduct_type: 'image', calib_level: 2, target_name: `field-${d.name}`, obs_collection: 'SKA-test', s_fov: 0.5, facility_name: 'SKA', instrument_name: 'LOW' },
    replicas: d.replicas.map((r) => ({ rse: r.rse, url: r.url, site: r.site, lat: SITES[r.site].lat, lon: SITES[r.site].lon })),
  });
}

export function writeDump(dir: string, lines: string[]): string {
  const file = join(dir, 'dids.jsonl');
  writeFileSync(file, lines.join('\n') + '\n');
  return file;
}

/** Expected cone members by brute force over every row. */
export const bruteCone = (dids: { name: string; ra: number; dec: number }[], ra: number, dec: number, sr: number) =>
  dids.filter((d) => greatCircleDeg(ra, dec, d.ra, d.dec) <= sr).map((d) => d.name).sort();

const CLIENT = join(dirname(fileURLToPath(import.meta.url)), 'client.py');
export const PYTHON = '/usr/bin/python3';

/** Runs test/ivoa/client.py with Debian's python (pyvo + astropy) and returns its JSON answer. */
export function pyvo(token: string, ...args: string[]): Promise<any> {
  return new Promise((resolve, reject) => {
    execFile(PYTHON, [CLIENT, ...args], { env: { ...process.env, DBB_TOKEN: token, PYTHONWARNINGS: 'ignore' }, timeout: 180_000, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`client.py ${args.join(' ')} failed: ${err.message}\n${stderr}`));
      try { resolve(JSON.parse(stdout)); } catch { reject(new Error(`client.py printed no JSON: ${stdout}\n${stderr}`)); }
    });
  });
}

/** STILTS votlint on a VOTable document: its ERROR and WARNING lines (empty when the document is valid). */
export function votlint(doc: string): Promise<string[]> {
  const dir = mkdtempSync(join(tmpdir(), 'votlint-'));
  const file = join(dir, 'doc.vot');
  writeFileSync(file, doc);
  return new Promise((resolve, reject) => {
    execFile('stilts', ['votlint', `votable=${file}`], { timeout: 120_000 }, (err, stdout, stderr) => {
      rmSync(dir, { recursive: true, force: true });
      if (err && (err as NodeJS.ErrnoException).code === 'ENOENT') return reject(new Error('stilts is not installed: run `sh infra/setup.sh test`'));
      resolve(`${stdout}\n${stderr}`.split('\n').filter((l) => /^(ERROR|WARNING)/.test(l)));
    });
  });
}

/** Takes the shared DaCHS for a test file: holds the TAP lock (concurrent runs wait instead of colliding),
 *  configures DaCHS if it never was; `serve` points it at the file's stack database, `release` points it back
 *  at the dev database and frees the lock. DaCHS missing is a failure with the setup step, never a skip. */
export async function holdTap(): Promise<{ serve(databaseUrl: string): Promise<void>; release(): Promise<void> }> {
  if (!dachsInstalled()) throw new Error('DaCHS is not installed: run `sh infra/setup.sh` (installs gavodachs2-server and configures DaCHS)');
  const lock = await lockTap();
  if (!(await tapConfigured())) await setupDachs();
  return {
    async serve(databaseUrl) { await pointTapAt(databaseUrl); await ensureDachs(); },
    async release() { await pointTapAt(loadConfig({}).databaseUrl).catch(() => {}); await lock.release(); },
  };
}

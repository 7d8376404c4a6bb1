// What the ivoa projection needs beyond Postgres itself: the pgSphere extension (ObsCore's s_region
// and the cone searches). Checked before the projection starts, so a missing package makes ivoa
// unavailable instead of failing the first migration and the whole process.
import type pg from 'pg';
import type { Probe } from '../../platform/availability.ts';
import { loadIvoaConfig } from '../../domains/ivoa/config.ts';
import type { Env } from '../../platform/config.ts';

export function pgSphereProbe(db: pg.Pool, env: Env): Probe {
  const { pgSphereExtension: ext } = loadIvoaConfig(env);
  return {
    name: 'ivoa',
    async check() {
      const r = await db.query<{ v: number }>("SELECT current_setting('server_version_num')::int / 10000 AS v");
      const installed = await db.query('SELECT 1 FROM pg_available_extensions WHERE name = $1', [ext]);
      if (!installed.rowCount) {
        throw new Error(`pgSphere is missing: PostgreSQL has no extension ${ext} (install it with: sudo apt-get install postgresql-${r.rows[0]!.v}-pgsphere, or run sh infra/setup.sh)`);
      }
    },
  };
}

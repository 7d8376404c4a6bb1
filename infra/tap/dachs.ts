// DaCHS as the TAP server over the ivoa ObsCore projection (as the seed does: an externally managed
// table). DaCHS keeps its own database (`gavo`); there `rucio.obscore` is a postgres_fdw foreign table
// onto <db>.projection_ivoa.obscore, described by the RD written here and imported with `dachs imp -m`.
// Each ivoa snapshot is one more such table, rucio.obscore_asof_<name> (publishSnapshotsToTap).
//   tsx infra/tap/dachs.ts setup [DATABASE_URL]   configure once (idempotent), start the server
//   tsx infra/tap/dachs.ts point DATABASE_URL     re-point the foreign table at another dbb database
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import pg from 'pg';
import { fileURLToPath } from 'node:url';
import { OBSCORE_COLUMNS } from '../../projections/ivoa/obscore.ts';
import { migrateConsumerSchema } from '../../platform/db.ts';
import { isSnapshotName, listSnapshots, snapshotSchema } from '../../platform/snapshots.ts';

export const DACHS_PORT = Number(process.env.IVOA_DACHS_PORT ?? 8090);
export const DACHS_URL = `http://127.0.0.1:${DACHS_PORT}`;
export const DACHS_TAP_URL = `${DACHS_URL}/tap`;
const GAVO_RC = '/etc/gavo.rc';
const RD_DIR = '/var/gavo/inputs/rucio';
const GAVO_DB = process.env.IVOA_GAVO_DB ?? 'postgres://postgres@127.0.0.1:5432/gavo';
/** Role the foreign server logs in as on the dbb side: may read projection_ivoa and nothing else. */
export const TAP_READER = 'dbb_tap_reader';
const DACHS_ROLES = ['gavo', 'gavoadmin', 'untrusted', 'dachsroot', 'postgres'];

const xmlEsc = (s: string) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

/** Columns of DaCHS's ivoa.obscore (ObsCore 1.1 optional ones and DaCHS's own) that the projection does not have. */
export const OBSCORE_EXTRA_NULL = ['dataproduct_subtype', 'obs_title', 'obs_creator_did', 'target_class', 's_pixel_scale', 'em_ucd', 'preview'];

/** An ivoa snapshot as DaCHS publishes it: the table rucio.obscore_asof_<name>. */
export interface TapSnapshot { name: string; until: string }
export const snapshotTapTable = (name: string) => `obscore_asof_${name}`;

export function resourceDescriptor(snapshots: TapSnapshot[] = []): string {
  const cols = OBSCORE_COLUMNS.map((c) => `    <column name="${c.name}" type="${c.type}"${c.unit ? ` unit="${c.unit}"` : ''} ucd="${xmlEsc(c.ucd)}"`
    + `${c.utype ? ` utype="${xmlEsc(c.utype)}"` : ''}${c.nullable ? '' : ' required="True"'}\n      description="${xmlEsc(c.description)}"${c.name.startsWith('s_r') || c.name === 'obs_publisher_did' ? ' verbLevel="1"' : ''}/>`);
  return `<resource schema="rucio">
  <meta name="title">Rucio DIDs as ObsCore (Data Backbone)</meta>
  <meta name="description">ObsCore 1.1 view of the DIDs registered in Rucio, kept up to date from the
    Data Backbone event log (projection_ivoa.obscore, managed outside DaCHS).</meta>
  <meta name="creationDate">2026-12-01T00:00:00Z</meta>
  <meta name="subject">Virtual observatory</meta>
  <meta name="creator.name">Data Backbone</meta>
  <meta name="content.type">Catalog</meta>
  <table id="obscore" onDisk="True" adql="True">
    <meta name="description">One row per Rucio DID: all mandatory ObsCore 1.1 columns plus the DID scope and name.</meta>
    <meta name="utype">ivo://ivoa.net/std/obscore#table-1.1</meta>
    <!-- DaCHS's own ObsCore publication: adds "SELECT … FROM rucio.obscore" to ivoa._obscoresources, from which
         \`dachs imp //obscore\` builds the view ivoa.obscore (described in TAP_SCHEMA with the ObsCore utypes, UCDs
         and units, and declared as the ObsCore 1.1 data model in the TAP capabilities). ObsCore 1.1 makes
         calib_level mandatory: a DID whose metadata has none is published at level 0 (raw). -->
    <mixin ${OBSCORE_EXTRA_NULL.map((n) => `${n}="NULL"`).join(' ')} calib_level="COALESCE(calib_level, 0)">//obscore#publishObscoreLike</mixin>
${cols.join('\n')}
  </table>
${snapshots.map((n) => `  <table id="${snapshotTapTable(n.name)}" onDisk="True" adql="True">
    <!-- a point-in-time snapshot (dbb replay ivoa, into a name): no publishObscoreLike, so not part of ivoa.obscore -->
    <meta name="description">ObsCore as it was at snapshot ${xmlEsc(n.name)} (the event log up to ${xmlEsc(n.until)}); read-only.</meta>
${cols.join('\n')}
  </table>
`).join('')}  <data id="import"><make table="obscore"/>${snapshots.map((n) => `<make table="${snapshotTapTable(n.name)}"/>`).join('')}</data>
</resource>
`;
}

function foreignTableSql(table = 'obscore', remoteSchema = 'projection_ivoa'): string {
  const cols = OBSCORE_COLUMNS.map((c) => `  ${c.name} ${c.type === 'spoly' ? 'public.spoly' : c.type}${c.nullable ? '' : ' NOT NULL'}`);
  return `CREATE FOREIGN TABLE rucio.${table} (\n${cols.join(',\n')}\n) SERVER dbb_projection OPTIONS (schema_name '${remoteSchema}', table_name 'obscore')`;
}

function dbName(url: string) { return decodeURIComponent(new URL(url).pathname.replace(/^\//, '')) || 'dbb'; }
function hostPort(url: string) { const u = new URL(url); return { host: u.hostname || '127.0.0.1', port: u.port || '5432' }; }

async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try { return await fn(c); } finally { await c.end(); }
}

/** Lets the TAP reader role see the projection in a dbb database (idempotent; the schema must exist). */
export async function grantTapReader(databaseUrl: string): Promise<void> {
  await withClient(databaseUrl, async (c) => {
    await c.query(`DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '${TAP_READER}') THEN CREATE ROLE ${TAP_READER} LOGIN; END IF; END $$`);
    await c.query(`CREATE SCHEMA IF NOT EXISTS projection_ivoa`);
    await c.query(`GRANT USAGE ON SCHEMA projection_ivoa TO ${TAP_READER}`);
    await c.query(`GRANT SELECT ON ALL TABLES IN SCHEMA projection_ivoa TO ${TAP_READER}`);
    await c.query(`ALTER DEFAULT PRIVILEGES IN SCHEMA projection_ivoa GRANT SELECT ON TABLES TO ${TAP_READER}`);
  });
}

/** Holds a session lock in the gavo database until `release()`: one user of the shared DaCHS at a time
 *  (the TAP test re-points the foreign table; two test runs on one machine would otherwise fight). */
export async function lockTap(timeoutMs = Infinity, onWait?: () => void): Promise<{ release(): Promise<void> }> {
  const c = new pg.Client({ connectionString: GAVO_DB });
  await c.connect();
  const deadline = Date.now() + timeoutMs;
  for (let waited = false; ; waited = true) {
    const r = await c.query<{ ok: boolean }>("SELECT pg_try_advisory_lock(hashtext('dbb-ivoa-tap')) AS ok");
    if (r.rows[0]!.ok) break;
    if (Date.now() > deadline) { await c.end(); throw new Error(`the TAP lock is held by another process for over ${timeoutMs / 1000} s`); }
    if (!waited) onWait?.();
    await new Promise((res) => setTimeout(res, 500));
  }
  return { async release() { await c.query("SELECT pg_advisory_unlock(hashtext('dbb-ivoa-tap'))").catch(() => {}); await c.end().catch(() => {}); } };
}

/** Points DaCHS's rucio.obscore at <databaseUrl>.projection_ivoa.obscore (postgres_fdw drops cached connections on ALTER SERVER). */
export async function pointTapAt(databaseUrl: string): Promise<void> {
  await grantTapReader(databaseUrl);
  const { host, port } = hostPort(databaseUrl);
  await withClient(GAVO_DB, async (c) => {
    await c.query(`ALTER SERVER dbb_projection OPTIONS (SET host '${host}', SET port '${port}', SET dbname '${dbName(databaseUrl).replace(/'/g, "''")}')`);
  });
  await syncSnapshots(databaseUrl);
}

/** The ivoa snapshots recorded in a dbb database (none when it has no platform.snapshots yet). */
async function ivoaSnapshots(databaseUrl: string): Promise<TapSnapshot[]> {
  return withClient(databaseUrl, async (c) => {
    if (!(await c.query("SELECT to_regclass('platform.snapshots') AS t")).rows[0].t) return [];
    const all = await listSnapshots(c, 'projection.ivoa');
    return all.filter((s) => isSnapshotName(s.name)).sort((a, b) => a.name.localeCompare(b.name)).map((s) => ({ name: s.name, until: s.until }));
  });
}

/** Makes DaCHS describe exactly the ivoa snapshots of the database it serves: a foreign table
 *  rucio.obscore_asof_<name> per snapshot, one <table> each in the RD, re-imported when that changed.
 *  The caller holds the TAP lock. Returns whether anything changed. */
async function syncSnapshots(databaseUrl: string): Promise<boolean> {
  const snaps = await ivoaSnapshots(databaseUrl);
  await withClient(databaseUrl, async (c) => {
    for (const s of snaps) {
      const schema = snapshotSchema('projection.ivoa', s.name);
      await c.query(`GRANT USAGE ON SCHEMA ${schema} TO ${TAP_READER}`);
      await c.query(`GRANT SELECT ON ALL TABLES IN SCHEMA ${schema} TO ${TAP_READER}`);
    }
  });
  const want = new Set(snaps.map((s) => snapshotTapTable(s.name)));
  const tablesChanged = await withClient(GAVO_DB, async (c) => {
    const { rows } = await c.query<{ t: string }>("SELECT foreign_table_name AS t FROM information_schema.foreign_tables WHERE foreign_table_schema = 'rucio' AND foreign_table_name LIKE 'obscore\\_asof\\_%'");
    const have = new Set(rows.map((r) => r.t));
    const gone = [...have].filter((t) => !want.has(t));
    for (const t of gone) {
      await c.query(`DROP FOREIGN TABLE rucio.${t}`);
      // dachs imp only (re)writes what the RD has: forget what a dropped snapshot left in DaCHS's metadata
      await c.query('DELETE FROM tap_schema.columns WHERE table_name = $1', [`rucio.${t}`]);
      await c.query('DELETE FROM tap_schema.tables WHERE table_name = $1', [`rucio.${t}`]);
      await c.query('DELETE FROM dc.tablemeta WHERE tablename = $1', [`rucio.${t}`]);
    }
    const added = snaps.filter((s) => !have.has(snapshotTapTable(s.name)));
    for (const s of added) {
      const t = snapshotTapTable(s.name);
      await c.query(foreignTableSql(t, snapshotSchema('projection.ivoa', s.name)));
      await c.query(`ALTER FOREIGN TABLE rucio.${t} OWNER TO gavoadmin`);
      await c.query(`GRANT SELECT ON rucio.${t} TO gavo, untrusted`);
    }
    return gone.length + added.length > 0;
  });
  const rdFile = `${RD_DIR}/q.rd`;
  const rd = resourceDescriptor(snaps);
  if (!tablesChanged && existsSync(rdFile) && readFileSync(rdFile, 'utf8') === rd) return false;
  writeFileSync(rdFile, rd);
  execFileSync('chown', ['-R', 'dachsroot:gavo', RD_DIR]);
  dachs(['imp', '-m', 'rucio/q']);
  dachs(['imp', '//obscore']);
  // the running server caches the RD: SIGHUP clears its caches so ADQL sees the new tables
  if (await dachsUp(1000)) execFileSync('dachs', ['serve', 'reload'], { stdio: 'ignore' });
  return true;
}

/** Publishes the ivoa snapshots of `databaseUrl` over TAP (rucio.obscore_asof_<name>) when DaCHS serves
 *  that database; takes the TAP lock unless the caller holds it. Quick when nothing changed. */
export async function publishSnapshotsToTap(databaseUrl: string, opts: { locked?: boolean } = {}): Promise<{ changed: boolean }> {
  requireDachs();
  const lock = opts.locked ? null : await lockTap(120_000);
  try {
    const served = await withClient(GAVO_DB, async (c) => (await c.query<{ o: string[] }>("SELECT srvoptions AS o FROM pg_foreign_server WHERE srvname = 'dbb_projection'")).rows[0]?.o ?? []);
    const dbname = served.find((o) => o.startsWith('dbname='))?.slice('dbname='.length);
    if (dbname !== dbName(databaseUrl)) throw new Error(`DaCHS serves database ${dbname ?? '(none)'}, not ${dbName(databaseUrl)} (dbb up points it here)`);
    return { changed: await syncSnapshots(databaseUrl) };
  } finally {
    await lock?.release();
  }
}

/** For `dbb replay ivoa --into/--drop`: publishes the snapshots over TAP and says so in one line; never throws. */
export async function publishSnapshotsLine(databaseUrl: string): Promise<string> {
  if (!dachsInstalled()) return 'TAP: DaCHS is not installed, snapshots are not published over TAP';
  try {
    if (!(await tapConfigured())) return 'TAP: DaCHS is not running or not configured (dbb up), snapshots are not published over TAP';
    const { changed } = await publishSnapshotsToTap(databaseUrl);
    return `TAP: ${changed ? 'published' : 'already publishes'} the ivoa snapshots as rucio.obscore_asof_<name>`;
  } catch (err) {
    return `TAP: snapshots not published: ${(err as Error).message.split('\n')[0]}`;
  }
}

const UDT = { text: 'text', integer: 'int4', bigint: 'int8', 'double precision': 'float8', spoly: 'spoly' } as const;

/** Makes the foreign table rucio.obscore; true when it was (re)created, false when it was already as wanted. */
async function configureGavoDb(databaseUrl: string): Promise<boolean> {
  const { host, port } = hostPort(databaseUrl);
  return withClient(GAVO_DB, async (c) => {
    await c.query('CREATE EXTENSION IF NOT EXISTS postgres_fdw');
    await c.query('CREATE EXTENSION IF NOT EXISTS pg_sphere');
    const exists = await c.query("SELECT 1 FROM pg_foreign_server WHERE srvname = 'dbb_projection'");
    if (!exists.rowCount) {
      await c.query(`CREATE SERVER dbb_projection FOREIGN DATA WRAPPER postgres_fdw
        OPTIONS (host '${host}', port '${port}', dbname '${dbName(databaseUrl)}', extensions 'pg_sphere', fetch_size '10000')`);
    }
    for (const role of DACHS_ROLES) {
      const r = await c.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [role]);
      if (!r.rowCount) continue;
      await c.query(`GRANT USAGE ON FOREIGN SERVER dbb_projection TO ${role}`);
      const m = await c.query(`SELECT 1 FROM pg_user_mappings WHERE srvname = 'dbb_projection' AND usename = $1`, [role]);
      if (!m.rowCount) await c.query(`CREATE USER MAPPING FOR ${role} SERVER dbb_projection OPTIONS (user '${TAP_READER}', password_required 'false')`);
    }
    await c.query('CREATE SCHEMA IF NOT EXISTS rucio AUTHORIZATION gavoadmin');
    // DaCHS's ivoa.obscore view selects from the foreign table: recreate it (and so the view) only when
    // its columns changed; the caller then re-imports so the view is rebuilt.
    const have = await c.query<{ cols: string }>(`SELECT string_agg(column_name || ' ' || udt_name, ',' ORDER BY ordinal_position) AS cols
      FROM information_schema.columns WHERE table_schema = 'rucio' AND table_name = 'obscore'`);
    const want = OBSCORE_COLUMNS.map((c) => `${c.name} ${UDT[c.type]}`).join(',');
    if (have.rows[0]?.cols === want) return false;
    await c.query('DROP FOREIGN TABLE IF EXISTS rucio.obscore CASCADE');
    await c.query(foreignTableSql());
    await c.query('ALTER FOREIGN TABLE rucio.obscore OWNER TO gavoadmin');
    await c.query('GRANT USAGE ON SCHEMA rucio TO gavo, untrusted');
    await c.query('GRANT SELECT ON rucio.obscore TO gavo, untrusted');
    return true;
  });
}

function writeGavoRc() {
  const want = `[general]\n# written by infra/tap/dachs.ts\n\n[web]\nserverURL: ${DACHS_URL}\nserverPort: ${DACHS_PORT}\nbindAddress: 127.0.0.1\nsitename: Data Backbone TAP\n\n[async]\nmaxTAPRunners: 2\n`;
  if (!existsSync(GAVO_RC) || readFileSync(GAVO_RC, 'utf8') !== want) writeFileSync(GAVO_RC, want);
}

function dachs(args: string[]) {
  return execFileSync('su', ['dachsroot', '-s', '/bin/sh', '-c', `dachs ${args.join(' ')}`], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

export async function dachsUp(timeoutMs = 30_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const r = await fetch(`${DACHS_TAP_URL}/capabilities`, { signal: AbortSignal.timeout(5000) });
      if (r.ok) return true;
    } catch { /* not yet */ }
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 500));
  }
}

export const dachsInstalled = () => spawnSync('sh', ['-c', 'command -v dachs']).status === 0;

/** Throws the one message a missing DaCHS gets, with the way to install it. */
export function requireDachs(): void {
  if (!dachsInstalled()) throw new Error('DaCHS is not installed: TAP is unavailable (sudo apt-get install gavodachs2-server, or run sh infra/setup.sh)');
}

/** For `dbb status`: DaCHS is installed and answering (without starting or re-pointing it). */
export async function checkTapRunning(): Promise<void> {
  requireDachs();
  if (!(await dachsUp(1000))) throw new Error('DaCHS is not running (dbb up starts it)');
}

/** Starts the DaCHS server if it is not answering (it daemonizes and drops to user gavo). */
export async function ensureDachs(): Promise<void> {
  requireDachs();
  if (await dachsUp(1000)) return;
  execFileSync('dachs', ['serve', 'start'], { stdio: 'ignore' });
  if (!(await dachsUp(60_000))) throw new Error(`DaCHS did not answer on ${DACHS_TAP_URL} within 60 s; see /var/gavo/logs/dcErrors`);
}

/** True when DaCHS answers, TAP_SCHEMA knows rucio.obscore and ivoa.obscore, and ivoa.obscore reads rucio.obscore. */
export async function tapConfigured(): Promise<boolean> {
  if (!(await dachsUp(1000))) return false;
  const q = new URLSearchParams({ REQUEST: 'doQuery', LANG: 'ADQL', QUERY: "SELECT table_name FROM TAP_SCHEMA.tables WHERE table_name IN ('rucio.obscore', 'ivoa.obscore')", RESPONSEFORMAT: 'text/csv' });
  const r = await fetch(`${DACHS_TAP_URL}/sync?${q}`, { signal: AbortSignal.timeout(10_000) }).catch(() => null);
  if (!r || !r.ok) return false;
  const body = await r.text();
  if (!/^rucio\.obscore\s*$/m.test(body) || !/^ivoa\.obscore\s*$/m.test(body)) return false;
  return withClient(GAVO_DB, async (c) => {
    const v = await c.query("SELECT 1 FROM information_schema.view_table_usage WHERE view_schema = 'ivoa' AND view_name = 'obscore' AND table_schema = 'rucio' AND table_name = 'obscore'");
    return (v.rowCount ?? 0) > 0;
  }).catch(() => false);
}

export async function setup(databaseUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/dbb') {
  requireDachs();
  writeGavoRc();
  await withClient(databaseUrl.replace(/\/[^/]*$/, '/postgres'), async (c) => {
    const r = await c.query('SELECT 1 FROM pg_database WHERE datname = $1', [dbName(databaseUrl)]);
    if (!r.rowCount) await c.query(`CREATE DATABASE "${dbName(databaseUrl)}"`);
  });
  // The same migrations the projection runs at start, so the table DaCHS describes exists.
  await migrateConsumerSchema(databaseUrl, 'projection_ivoa', fileURLToPath(new URL('../../projections/ivoa/migrations', import.meta.url)));
  await grantTapReader(databaseUrl);
  const recreated = await configureGavoDb(databaseUrl);
  mkdirSync(RD_DIR, { recursive: true });
  const rd = resourceDescriptor();
  const rdFile = `${RD_DIR}/q.rd`;
  // Quick when nothing changed: the same RD already imported and the server answering.
  if (!recreated && existsSync(rdFile) && readFileSync(rdFile, 'utf8') === rd && await tapConfigured()) return;
  writeFileSync(rdFile, rd);
  execFileSync('chown', ['-R', 'dachsroot:gavo', RD_DIR]);
  // DaCHS's ObsCore machinery (ivoa._obscoresources, ivoa.emptyobscore, the ivoa.obscore view): once.
  if (!(await withClient(GAVO_DB, async (c) => (await c.query("SELECT to_regclass('ivoa._obscoresources') AS t")).rows[0].t))) dachs(['imp', '//obscore']);
  // -m: metadata only (TAP_SCHEMA, privileges); the table itself is managed outside DaCHS. Its
  // //obscore#publishObscoreLike mixin registers rucio.obscore as a source of ivoa.obscore ...
  dachs(['imp', '-m', 'rucio/q']);
  // ... and this rebuilds the view ivoa.obscore from those sources (and its TAP_SCHEMA rows).
  dachs(['imp', '//obscore']);
  if (await dachsUp(1000)) execFileSync('dachs', ['serve', 'restart'], { stdio: 'ignore' });
  await ensureDachs();
}

/** For `dbb up`: DaCHS answers and its rucio.obscore reads this system's projection. Configures DaCHS
 *  first when it never was (that needs root); takes the TAP lock so it never re-points a DaCHS that a
 *  running TAP test is using. */
export async function serveTapFor(databaseUrl: string, log: (m: string) => void = () => {}): Promise<void> {
  requireDachs();
  const lock = await lockTap(120_000, () => log('waiting for the TAP lock (a TAP test is using DaCHS)'));
  try {
    if (!(await tapConfigured())) await setup(databaseUrl);
    else await ensureDachs();
    await pointTapAt(databaseUrl);
  } finally {
    await lock.release();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [cmd, url] = process.argv.slice(2);
  // Both re-point or re-import the shared DaCHS: wait for a TAP test that is using it.
  const locked = async (fn: () => Promise<void>) => {
    const lock = await lockTap(600_000, () => console.log('waiting for the TAP lock (a TAP test is using DaCHS)'));
    try { await fn(); } finally { await lock.release(); }
  };
  const run = cmd === 'setup' ? locked(() => setup(url)) : cmd === 'point' && url ? locked(() => pointTapAt(url)) : Promise.reject(new Error('usage: dachs.ts setup [DATABASE_URL] | point DATABASE_URL'));
  run.then(() => console.log(`DaCHS TAP ${cmd} done: ${DACHS_TAP_URL}`), (err) => { console.error(err.stderr?.toString?.() ?? '', err.message); process.exit(1); });
}

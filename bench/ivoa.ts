// Benchmark: N DIDs (one replica each) from a JSON-lines dump through the feeder → Kafka → projection.ivoa
// (events/s into the ObsCore table, goal ≥ 20,000/s), beside the same row changes written straight to
// Postgres; then cone searches of radius 0.1°–1° through the gateway's /scs (HTTP) beside the same SQL
// run directly with pg, p95 of each. Run: npx tsx bench/ivoa.ts [--dids 1000000] [--cones 300] [--json]
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { fileURLToPath } from 'node:url';
import { createLogger } from '../platform/log.ts';
import { startReplyListener } from '../platform/request-reply.ts';
import { createAuth, hashToken } from '../gateway/plugins/auth.ts';
import { buildApp } from '../gateway/app.ts';
import { migrateConsumerSchema } from '../platform/db.ts';
import { createIvoaProjection } from '../projections/ivoa/index.ts';
import { ivoaStats } from '../projections/ivoa/stats.ts';
import { coneSearch } from '../projections/ivoa/queries.ts';
import { fold } from '../projections/ivoa/fold.ts';
import { applyChanges } from '../projections/ivoa/apply.ts';
import { loadDidDump } from '../producers/did-feeder/index.ts';
import { parseDumpLine } from '../producers/did-feeder/parse.ts';
import type { DecodedEvent } from '../platform/types.ts';
import { startBenchStack, type BenchResult } from './support/stack.ts';


const SITES = [['UKSRC', 52.2, 0.12], ['CHSRC', 46.23, 6.05], ['AUSRC', -31.95, 115.86], ['CNSRC', 31.2, 121.5]] as const;

function rng(seed: number) {
  return () => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed / 0x7fffffff; };
}

/** Uniform over the sphere: ra uniform, dec = asin(uniform(-1, 1)). */
function* dumpLines(n: number, seed = 1): Generator<string> {
  const r = rng(seed);
  for (let i = 0; i < n; i++) {
    const ra = r() * 360;
    const dec = (Math.asin(2 * r() - 1) * 180) / Math.PI;
    const [site, lat, lon] = SITES[i % SITES.length];
    yield JSON.stringify({
      scope: 'bench', name: `d${i}.fits`, type: 'FILE',
      metadata: { s_ra: ra, s_dec: dec, dataproduct_type: 'image', calib_level: 2, obs_collection: 'bench', s_fov: 0.5, facility_name: 'SKA', instrument_name: 'LOW', access_estsize: 1024 },
      replicas: [{ rse: `${site}_DISK`, url: `https://${site.toLowerCase()}.example/bench/d${i}.fits`, site, lat, lon }],
    });
  }
}

async function* asyncLines(n: number) { yield* dumpLines(n); }

/** The same row changes straight into Postgres, batches of `batch` events, no Kafka: the baseline. */
export async function directLoad(databaseUrl: string, n: number, batch: number): Promise<number> {
  const schema = 'bench_direct_ivoa';
  const db = new pg.Pool({ connectionString: databaseUrl, max: 2 });
  await db.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await migrateConsumerSchema(databaseUrl, schema, fileURLToPath(new URL('../projections/ivoa/migrations', import.meta.url)));
  const id = { authority: 'ivo://dbb.local/rucio', publicUrl: 'http://127.0.0.1:8080' };
  const client = await db.connect();
  let offset = 0;
  let events: DecodedEvent[] = [];
  const flush = async () => {
    await client.query('BEGIN');
    // the projection commits without waiting for the WAL flush (platform/consumer/batch.ts): so does its baseline
    await client.query(`SET LOCAL search_path TO ${schema}, public; SET LOCAL synchronous_commit TO off`);
    await applyChanges(client, events.flatMap((e) => fold(e, id)));
    await client.query('COMMIT');
    events = [];
  };
  const started = performance.now();
  for (const line of dumpLines(n)) {
    for (const e of parseDumpLine(line)) {
      events.push({ name: e.name, value: e.body, key: e.key, offset: String(offset++) } as unknown as DecodedEvent);
      if (events.length >= batch) await flush();
    }
  }
  if (events.length) await flush();
  const s = (performance.now() - started) / 1000;
  client.release();
  await db.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await db.end();
  return offset / s;
}

const p95 = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(0.95 * s.length))]; };

export async function run(opts: { dids?: number; cones?: number; batch?: number } = {}): Promise<BenchResult> {
  const n = opts.dids ?? 100_000;
  const batch = opts.batch ?? 5000;
  const nCones = opts.cones ?? 300;
  const id = randomBytes(3).toString('hex');
  const token = `bench-${id}`;
  const bench = await startBenchStack('ivoa', { env: { DBB_TOKENS: `bench:reader:${hashToken(token)}`, DBB_BATCH_MAX: String(batch) } });
  const { env, config, platform } = bench;
  const log = createLogger({ level: 'warn', name: 'bench-ivoa' });
  const replies = await startReplyListener({ config, kafka: platform.kafka, serde: platform.serde, appender: platform.appender, log });
  const app = await buildApp({ config, env, db: platform.db, appender: platform.appender, replies, auth: createAuth(config), log });
  try {
    const url = (await app.listen({ host: '127.0.0.1', port: 0 })).replace('localhost', '127.0.0.1');

    const directEps = await directLoad(env.DATABASE_URL!, Math.min(n, 200_000), config.batchMaxRecords);

    // Feed the whole dump first, then start the projection: its catch-up time is the projection's own rate.
    const started = performance.now();
    const fed = await loadDidDump(platform.appender, '(generated)', { source: asyncLines(n) });
    const feedS = (performance.now() - started) / 1000;
    const projStarted = performance.now();
    await platform.startConsumer(createIvoaProjection(platform.domainDeps));
    for (;;) {
      const s = await ivoaStats({ db: platform.db, kafka: platform.kafka, config });
      if (s.lag === 0 && s.rows === n) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    const projS = (performance.now() - projStarted) / 1000;
    const final = await ivoaStats({ db: platform.db, kafka: platform.kafka, config });
    if (final.replicas !== n) throw new Error(`expected ${n} replicas, got ${final.replicas}`);

    const r = rng(99);
    const cones = Array.from({ length: nCones }, () => [r() * 360, (Math.asin(2 * r() - 1) * 180) / Math.PI, 0.1 + r() * 0.9] as const);
    const headers = { authorization: `Bearer ${token}` };
    for (const [ra, dec, sr] of cones.slice(0, 20)) await (await fetch(`${url}/scs?RA=${ra}&DEC=${dec}&SR=${sr}`, { headers })).text(); // warm-up
    const gw: number[] = [];
    const direct: number[] = [];
    let rows = 0;
    for (const [ra, dec, sr] of cones) {
      let t = performance.now();
      const res = await fetch(`${url}/scs?RA=${ra}&DEC=${dec}&SR=${sr}`, { headers });
      const body = await res.text();
      gw.push(performance.now() - t);
      if (res.status !== 200 || !body.includes('QUERY_STATUS" value="OK"')) throw new Error(`cone ${ra},${dec},${sr}: ${res.status} ${body.slice(0, 200)}`);
      t = performance.now();
      rows += (await coneSearch(platform.db, ra, dec, sr, 100_001)).length;
      direct.push(performance.now() - t);
    }
    const events = fed.events;
    const metrics = {
      dids: n,
      events,
      feeder_events_per_s: events / feedS,
      projection_events_per_s: events / projS,
      direct_pg_events_per_s: directEps,
      scs_gateway_p95_ms: p95(gw),
      scs_direct_pg_p95_ms: p95(direct),
      cone_mean_rows: rows / nCones,
    };
    return {
      name: 'ivoa',
      metrics,
      ratios: {
        projection_vs_direct_pg: metrics.projection_events_per_s / directEps,
        projection_vs_goal_20k: metrics.projection_events_per_s / 20_000,
        scs_gateway_p95_vs_direct_pg_p95: metrics.scs_gateway_p95_ms / metrics.scs_direct_pg_p95_ms,
      },
      notes: [
        `${n} DIDs uniform over the sky, one replica each (${events} events: DidRegistered + ReplicaAdded), fed from a generated JSON-lines dump through the batching producer`,
        `feeder: generated dump → events acknowledged by Kafka; projection: projection.ivoa started on the full log, until no lag and every row is there (DBB_BATCH_MAX=${batch}); direct_pg: the same fold + unnest statements straight into a scratch schema, same batch size and commit mode (synchronous_commit off, as the projection), no Kafka (up to 200,000 DIDs)`,
        `${nCones} cones, radius uniform 0.1°–1°, sequential; gateway = HTTP GET /scs (VOTable), direct = the same SQL with pg`,
      ],
    };
  } finally {
    await app.close().catch(() => {});
    await replies.stop().catch(() => {});
    await bench.stop();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const arg = (name: string) => { const i = process.argv.indexOf(`--${name}`); return i > 0 ? Number(process.argv[i + 1]) : undefined; };
  run({ dids: arg('dids'), cones: arg('cones'), batch: arg('batch') })
    .then((r) => { console.log(JSON.stringify(r, null, process.argv.includes('--json') ? 0 : 2)); process.exit(0); })
    .catch((err) => { console.error(err); process.exit(1); });
}

#!/usr/bin/env -S npx tsx
// `dbb`: the operator's command line. up/down/status bring the native stack and the system up and
// down; run starts one part; topics/tail/lag look at the log; replay rebuilds a projection.
import { Command, Option } from 'commander';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Env, KeySpec } from '../platform/config.ts';
import type { allConsumers } from './system.ts';
import { registerDomainCommands } from './domains.ts';
import { registerReplayCommand } from './replay.ts';

// Everything else is imported by the command that needs it: `dbb --help` loads commander and nothing of
// the platform (≤ 0.5 s from the build, docs/deploy.md).
const config$ = () => import('../platform/config.ts');
const log$ = () => import('../platform/log.ts');
const stack$ = () => import('../infra/stack.ts');
const tapeSim$ = () => import('../infra/tape-sim.ts');
const system$ = () => import('./system.ts');
const db$ = () => import('../platform/db.ts');
const inspect$ = () => import('../platform/inspect.ts');

const program = new Command('dbb').description('Data Backbone: event-sourced streaming backbone').showHelpAfterError();

const stateDir = () => process.env.DBB_STATE_DIR || join(process.cwd(), '.dbb');
/** Services (up, run) log to stdout at info; one-shot commands print their answer there and log to stderr at warn. */
const log = async () => (await log$()).createLogger({ level: process.env.LOG_LEVEL ?? 'info' });
const commandLog = async () => (await log$()).createLogger({ level: process.env.LOG_LEVEL ?? 'warn', to: 'stderr' });

/** Starts Kafka + registry if needed and creates the database (unless DBB_STACK=external); returns the env the system runs with. */
async function prepare(env: Env, by: string, cluster: { brokers?: number; scram?: boolean } = {}): Promise<{ env: Env; started: string[] }> {
  const [{ loadConfig }, { ensureStack, ensureDatabase }, { safeUrl }, { createDefaultDirs }] = await Promise.all([config$(), stack$(), log$(), system$()]);
  const config = loadConfig(env);
  if (env.DBB_STACK === 'external') {
    // production (docs/deploy.md): Kafka, the registry and the database are run by others; start nothing, create nothing
    for (const dir of createDefaultDirs(env, config)) console.error(`[dirs] created ${dir}`);
    return { env, started: [] };
  }
  const info = await ensureStack({ stateDir: config.stateDir, log: (m) => console.error(`[stack] ${m}`), databaseUrl: config.databaseUrl, by, ...cluster });
  await ensureDatabase(config.databaseUrl).catch((err) => {
    throw new Error(`Postgres is not reachable at ${safeUrl(config.databaseUrl)} (${(err as Error).message}); start it or set DATABASE_URL`);
  });
  for (const dir of createDefaultDirs(env, config)) console.error(`[dirs] created ${dir}`);
  return { env: { ...info.env, ...env, KAFKA_BROKERS: env.KAFKA_BROKERS || info.brokers.join(','), SCHEMA_REGISTRY_URL: env.SCHEMA_REGISTRY_URL || info.registryUrl }, started: info.started };
}

/** Local dev profile: without configured tokens, mint an operator token and open the seed routes. */
async function devProfile(env: Env): Promise<{ env: Env; token: string | null }> {
  if (env.DBB_TOKENS) return { env, token: null };
  const { hashToken } = await import('../gateway/plugins/auth.ts');
  const token = `dev-${randomBytes(16).toString('hex')}`;
  mkdirSync(stateDir(), { recursive: true });
  writeFileSync(join(stateDir(), 'dev-token'), token + '\n', { mode: 0o600 });
  return {
    token,
    env: { ...env, DBB_TOKENS: `dev:operator:${hashToken(token)}`, DBB_ANONYMOUS_ROUTES: env.DBB_ANONYMOUS_ROUTES ?? 'gw-seed,staging-seed,tape-seed,ivoa-seed', TAPE_CALLBACK_ALLOW: env.TAPE_CALLBACK_ALLOW ?? '127.0.0.0/8,::1/128', STAGING_NOTIFY_ALLOW: env.STAGING_NOTIFY_ALLOW ?? '127.0.0.0/8,::1/128' },
  };
}

function onSignals(close: () => Promise<void>) {
  let closing = false;
  const handler = async () => {
    if (closing) process.exit(1);
    closing = true;
    console.error('\nstopping…');
    await close().catch((err) => console.error(err));
    process.exit(0);
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
}

program.command('up').description('bring up Kafka, the registry, Postgres schemas, and run the gateway + every processor and projection')
  .option('--no-stack-stop', 'leave Kafka and the registry running on exit, even when this command started them')
  .option('--brokers <n>', 'run a local KRaft cluster of n brokers (in <state dir>/cluster-<n>, ports from 9192; docs/scaling.md)', (v) => Number(v))
  .option('--scram', 'with --brokers: clients and brokers authenticate with SCRAM-SHA-512')
  .action(async (opts: { stackStop: boolean; brokers?: number; scram?: boolean }) => {
    const prepared = await prepare(process.env, `dbb up (pid ${process.pid})`, { brokers: opts.brokers, scram: opts.scram });
    const { env, token } = await devProfile(prepared.env);
    const [{ startDevSimulators }, { startSystem }, { safeUrl }, { stopStack }] = await Promise.all([import('./dev.ts'), system$(), log$(), stack$()]);
    const sims = await startDevSimulators(env, (m) => console.error(`[dev] ${m}`));
    const sys = await startSystem({ ...env, ...sims.env }, await log(), { gateway: true, consumers: (all) => all, services: true });
    console.log(`\nData Backbone is up.\n  gateway   ${sys.url}\n  console   ${sys.url}/\n  API docs  ${sys.url}/docs\n  database  ${safeUrl(sys.config.databaseUrl)}\n  kafka     ${sys.config.kafkaBrokers.join(',')}\n  registry  ${sys.config.registryUrl}`);
    if (token) console.log(`  dev token ${token}  (operator; also in ${join(stateDir(), 'dev-token')}; seed routes open without a token)`);
    for (const [name, reason] of Object.entries(sys.availability.snapshot([]))) console.log(`  UNAVAILABLE ${name}: ${reason}`);
    const ours = opts.stackStop ? prepared.started : [];
    const reused = ['kafka', 'registry'].filter((p) => !prepared.started.includes(p));
    console.log(`Ctrl-C stops the system${ours.length ? ` and ${ours.join(' and ')}` : ''}${reused.length ? `; ${reused.join(' and ')} (started earlier) keep running until dbb down` : ''}.`);
    onSignals(async () => {
      await sys.close();
      await sims.stop();
      if (ours.length) await stopStack({ stateDir: stateDir(), log: (m) => console.error(`[stack] ${m}`), only: ours });
    });
  });

program.command('run').description('run one part alone: gateway | processor <domain> | projection <domain> | workers (every consumer)')
  .argument('<part>').argument('[domain]')
  .action(async (part: string, domain?: string) => {
    const { env } = await prepare(process.env, `dbb run ${part} (pid ${process.pid})`);
    const pick = (kind: string) => (all: ReturnType<typeof allConsumers>) => {
      const chosen = all.filter((s) => s.kind === kind && (!domain || s.name === `${kind}.${domain}`));
      if (!chosen.length) throw new Error(`no ${kind} ${domain ?? ''}; known: ${all.filter((s) => s.kind === kind).map((s) => s.name).join(', ')}`);
      return chosen;
    };
    const parts = part === 'gateway' ? { gateway: true, consumers: () => [] }
      : part === 'workers' ? { gateway: false, consumers: (all: ReturnType<typeof allConsumers>) => all, services: true }
      : part === 'processor' || part === 'projection' ? { gateway: false, consumers: pick(part) }
      : null;
    if (!parts) throw new Error(`unknown part ${part}: gateway | processor <domain> | projection <domain> | workers`);
    const { startSystem } = await system$();
    const sys = await startSystem(env, await log(), parts);
    console.log(`running ${part}${domain ? ' ' + domain : ''}${sys.url ? ' at ' + sys.url : ''}`);
    onSignals(() => sys.close());
  });

program.command('down').description('stop Kafka and the registry started by dbb up / npm test')
  .action(async () => {
    const { stopStack } = await stack$();
    const stopped = await stopStack({ stateDir: stateDir(), log: (m) => console.error(`[stack] ${m}`) });
    console.log(stopped.length ? `stopped ${stopped.join(', ')}` : 'nothing was running');
  });

program.command('status').description('state of the native stack and consumer lag')
  .action(async () => {
    const [{ stackStatus }, { loadConfig }, { domainAvailability }, { createPool }, { consumerLag }] = await Promise.all([stack$(), config$(), system$(), db$(), inspect$()]);
    for (const s of await stackStatus({ stateDir: stateDir() })) {
      const who = s.pid ? ` (pid ${s.pid}${s.startedBy ? `, started by ${s.startedBy}` : ''})` : s.up ? ' (not started from this state directory)' : '';
      console.log(`${s.name.padEnd(10)} ${s.up ? 'up  ' : 'down'} ${s.url}${who}`);
    }
    const sim = await (await tapeSim$()).tapeSimStatus(stateDir());
    if (sim) console.log(`${'tape-sim'.padEnd(10)} ${sim.up ? 'up  ' : 'down'} ${sim.url ?? '(url not recorded)'} (pid ${sim.pid}${sim.startedBy ? `, started by ${sim.startedBy}` : ''})`);
    const config = loadConfig(process.env);
    for (const [name, state] of Object.entries(await domainAvailability(config, process.env))) console.log(`${name.padEnd(10)} ${state === 'up' ? 'up' : `unavailable: ${state}`}`);
    const db = createPool(config.databaseUrl, 1);
    try {
      for (const l of await consumerLag({ config, db })) console.log(`${l.group.padEnd(40)} lag ${l.lag}`);
    } catch (err) {
      console.log(`lag: unavailable (${(err as Error).message})`);
    } finally {
      await db.end();
    }
  });

program.command('topics').description('list topics with partitions and end offsets')
  .action(async () => {
    const [{ listTopics }, { loadConfig }] = await Promise.all([inspect$(), config$()]);
    for (const t of await listTopics(loadConfig(process.env))) console.log(`${t.topic.padEnd(40)} partitions ${t.partitions}  events ${t.events}`);
  });

program.command('tail').description('print decoded events of a topic as JSON lines')
  .argument('<topic>', 'e.g. dbb.gw.datastore')
  .option('--from-beginning', 'start at offset 0', false)
  .option('-n, --max <n>', 'stop after n events', (v) => Number(v))
  .action(async (topic: string, opts: { fromBeginning: boolean; max?: number }) => {
    const [{ tailTopic }, { loadConfig }] = await Promise.all([import('./inspect.ts'), config$()]);
    await tailTopic(loadConfig(process.env), topic, opts);
  });

program.command('lag').description('records behind the log end per consumer group (from the offsets each consumer stores in Postgres)')
  .action(async () => {
    const [{ loadConfig }, { createPool }, { consumerLag }] = await Promise.all([config$(), db$(), inspect$()]);
    const config = loadConfig(process.env);
    const db = createPool(config.databaseUrl, 1);
    try {
      for (const l of await consumerLag({ config, db })) console.log(`${l.group.padEnd(40)} ${l.lag}`);
    } finally {
      await db.end();
    }
  });

registerReplayCommand(program, commandLog);

const schemas = program.command('schemas').description('event schemas');
schemas.command('check').description('check every schema against the registry (BACKWARD_TRANSITIVE); fails on an incompatible change')
  .action(async () => {
    const [{ checkSchemas }, { loadConfig }] = await Promise.all([import('./schemas.ts'), config$()]);
    const problems = await checkSchemas(loadConfig(process.env), (m) => console.log(m));
    if (problems.length) { for (const p of problems) console.error(`INCOMPATIBLE ${p}`); process.exitCode = 1; }
  });

program.command('config').description('every configuration key with its env var and default')
  .option('--markdown', 'as a Markdown table')
  .action(async (o: { markdown?: boolean }) => {
    const [{ CORE_KEYS }, { OPS_KEYS }, { GW_KEYS }, { STAGING_KEYS }, { TAPE_KEYS }, { IVOA_KEYS }, { ENV_OVERRIDES: INGEST_ENV }] = await Promise.all([
      config$(), import('../platform/ops-server.ts'), import('../domains/gw/config.ts'), import('../domains/staging/config.ts'), import('../domains/tape/config.ts'), import('../domains/ivoa/config.ts'), import('../domains/ingest/config.ts'),
    ]);
    const CONFIG_SECTIONS = { core: CORE_KEYS, observability: OPS_KEYS, gw: GW_KEYS, staging: STAGING_KEYS, tape: TAPE_KEYS, ivoa: IVOA_KEYS };
    for (const [section, keys] of Object.entries(CONFIG_SECTIONS)) {
      console.log(o.markdown ? `\n| ${section} variable | meaning | default |\n| --- | --- | --- |` : `\n${section}`);
      for (const k of Object.values(keys) as KeySpec[]) {
        const dflt = k.secret || k.default === undefined ? (k.default === undefined ? 'required' : '(secret)') : JSON.stringify(k.default).replaceAll(process.cwd(), '.');
        console.log(o.markdown ? `| \`${k.env}\` | ${k.doc.replace(/\|/g, '\\|')} | ${dflt} |` : `  ${k.env.padEnd(32)} ${k.doc} [${dflt}]`);
      }
    }
    const ingest = `ingest: INGEST_CONFIG (YAML file, docs/ingest.md) and overrides ${Object.keys(INGEST_ENV).join(', ')}`;
    console.log(o.markdown ? `\n${ingest.replace(/(INGEST_\w+)/g, '`$1`')}` : `\n${ingest}`);
  });

registerDomainCommands(program);
program.addOption(new Option('--namespace <ns>', 'topic/group/subject prefix (DBB_NAMESPACE)').env('DBB_NAMESPACE'));
program.hook('preAction', (cmd) => { const o = cmd.opts(); if (o.namespace) process.env.DBB_NAMESPACE = o.namespace; });

program.parseAsync().catch((err) => {
  console.error(err instanceof Error ? err.message : err); // a ConfigError's message names the variable
  process.exit(1);
});


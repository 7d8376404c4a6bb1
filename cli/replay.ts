// `dbb replay`: rebuild a projection (shadow schema, then swap), or build a point-in-time snapshot of
// it (--until --into, read-only, read with ?as_of=<name>), list and drop snapshots. docs/history.md.
import type { Command } from 'commander';
import type { Logger } from 'pino';

interface ReplayOpts { until?: string; into?: string; list?: boolean; drop?: string }

export function registerReplayCommand(program: Command, commandLog: () => Promise<Logger>) {
  program.command('replay').description('rebuild a projection from offset 0 into a shadow schema, then swap it in; with --until/--into, build a read-only point-in-time snapshot instead')
    .argument('[projection]', 'e.g. gw or projection.gw (with --drop: only that projection\'s snapshot)')
    .option('--until <time|offsets>', 'stop at the first record whose Kafka timestamp is after this ISO time, or at offsets:[topic:]partition=offset,... (exclusive)')
    .option('--into <name>', 'snapshot name ([a-z][a-z0-9_]*): schema <projection>_asof_<name>, read with ?as_of=<name>')
    .option('--list', 'list the snapshots')
    .option('--drop <name>', 'drop a snapshot (of every projection that has one by this name, unless a projection is given)')
    .action(async (name: string | undefined, opts: ReplayOpts) => {
      const [{ loadConfig }, { startPlatform }, replay, snapshots, { allConsumers }, { default: cliProgress }] = await Promise.all([
        import('../platform/config.ts'), import('../platform/runtime.ts'), import('../platform/replay.ts'), import('../platform/snapshots.ts'), import('./system.ts'), import('cli-progress'),
      ]);
      if ((opts.until === undefined) !== (opts.into === undefined)) throw new Error('--until and --into go together');
      const until = opts.until !== undefined ? replay.parseUntil(opts.until) : null; // fail before connecting
      const config = loadConfig(process.env);
      const platform = await startPlatform(config, { log: await commandLog(), source: 'dbb-replay', relay: false });
      try {
        // ivoa snapshots are also TAP tables (rucio.obscore_asof_<name>); a missing DaCHS never fails the replay
        const publishToTap = async () => (await import('../infra/tap/dachs.ts')).publishSnapshotsLine(config.databaseUrl);
        const specs = allConsumers(platform).filter((s) => s.kind === 'projection');
        const spec = name === undefined ? undefined : specs.find((s) => s.name === name || s.name === `projection.${name}`);
        if (name !== undefined && !spec) throw new Error(`no projection ${name}; known: ${specs.map((s) => s.name).join(', ')}`);
        if (opts.list) {
          for (const s of await snapshots.listSnapshots(platform.db, spec?.name)) {
            console.log(`${s.name.padEnd(24)} ${s.projection.padEnd(22)} until ${s.until}  ${s.events} events  created ${s.createdAt}  schema ${s.schema}`);
          }
          return;
        }
        if (opts.drop !== undefined) {
          const dropped = await snapshots.dropSnapshot(platform.db, opts.drop, spec?.name);
          console.log(dropped.length ? `dropped ${dropped.join(', ')}` : `no snapshot ${opts.drop}`);
          if (!dropped.length) process.exitCode = 1;
          if (dropped.some((schema) => schema.startsWith('projection_ivoa_asof_'))) console.log(await publishToTap());
          return;
        }
        if (!spec) throw new Error(`name a projection: ${specs.map((s) => s.name).join(', ')}`);
        const bar = new cliProgress.SingleBar({ format: `replay ${spec.name}${opts.into ? ` → ${opts.into}` : ''} [{bar}] {percentage}% {value}/{total} events {eta_formatted}` }, cliProgress.Presets.shades_classic);
        bar.start(1, 0);
        const onProgress = (done: number, total: number) => { bar.setTotal(Math.max(total, 1)); bar.update(done); };
        if (until && opts.into) {
          const res = await replay.replaySnapshot(platform, spec, { until, into: opts.into, onProgress });
          bar.stop();
          console.log(`snapshot ${res.name}: ${res.events} events up to ${until.text} in ${(res.ms / 1000).toFixed(1)} s; read-only schema ${res.schema}; read it with ?as_of=${res.name}`);
          if (spec.name === 'projection.ivoa') console.log(await publishToTap());
          return;
        }
        const res = await replay.replayProjection(platform, spec, { onProgress });
        bar.stop();
        console.log(`replayed ${res.events} events in ${(res.ms / 1000).toFixed(1)} s; ${res.schema} swapped in${res.previous ? `, previous kept as ${res.previous}` : ''}`);
      } finally {
        await platform.close();
      }
    });
}

// `dbb gw stream`: replays strain to the gateway. Without --paced, a GWOSC file at --rate chunks/s (the
// seed's GWclient); with --paced, a strain file (--file) or an archived batch (--batch) at the pace the
// data were recorded (--speed for faster or slower than real time). Imports are lazy for `dbb --help`.
import type { Command } from 'commander';

type Opts = Record<string, string | boolean | undefined>;

const num = (o: Opts, name: string): number | undefined => {
  if (o[name] === undefined) return undefined;
  const v = Number(o[name]);
  if (!Number.isFinite(v)) throw new Error(`--${name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} ${o[name]}: not a number`);
  return v;
};

export function registerGwCommands(gw: Command, defaultToken: () => string | undefined): void {
  gw.command('stream').description('replay strain to /streamdata: a GWOSC file at --rate, or with --paced a file or an archived batch at the recorded pace')
    .argument('[file]', 'strain file: GWOSC .hdf5/.txt, a buffer chunk .json, .npy or raw float64 (.f64/.raw/.bin; these two need --t0 --dt)')
    .option('--url <url>', 'gateway base URL', process.env.DBB_URL ?? 'http://127.0.0.1:8080')
    .option('--token <token>', 'bearer token (default: DBB_TOKEN, else the dev token)')
    .option('--datastore <id>', 'datastore id the chunks go to (default: the seed route)')
    .option('--binary', 'send application/octet-stream')
    .option('--rate <chunks/s>', 'without --paced: chunks per second (0 = as fast as answered)', '1')
    .option('--chunk <samples>', 'without --paced: samples per chunk', '16384')
    .option('--concurrency <n>', 'without --paced: chunks in flight', '1')
    .option('--paced', 'send each chunk when the replay clock reaches its last sample (as live data)')
    .option('--file <path>', 'with --paced: the strain file (same as the argument)')
    .option('--batch <id>', 'with --paced: an archived batch (archive directory name, see GET .../archives) instead of a file')
    .option('--source <id>', 'with --batch: the datastore holding the batch (default: --datastore, else the default datastore)')
    .option('--chunk-seconds <s>', 'with --paced: seconds of data per chunk', '1')
    .option('--speed <x>', 'with --paced: data seconds per wall-clock second', '1')
    .option('--t0 <gps>', 'GPS time of the first sample (.npy and raw float64 files)')
    .option('--dt <s>', 'sample spacing, s (.npy and raw float64 files)')
    .action(async (fileArg: string | undefined, o: Opts) => {
      const token = (o.token as string) ?? process.env.DBB_TOKEN ?? defaultToken();
      const file = (o.file as string | undefined) ?? fileArg;
      const times = { t0: num(o, 't0'), dt: num(o, 'dt') };
      const target = { url: String(o.url), token, datastore: o.datastore as string | undefined, binary: Boolean(o.binary) };
      if (!o.paced) {
        if (!file) throw new Error('give a strain file (or --paced --batch ID)');
        const { streamSeries, readStrainFile } = await import('../producers/gw-streamer/index.ts');
        const summary = await streamSeries(await readStrainFile(file, times), {
          ...target, rate: Number(o.rate), chunkSamples: Number(o.chunk), concurrency: Number(o.concurrency),
          onChunk: (i, a) => console.log(JSON.stringify({ chunk: i, resp: a.resp, ...a.body })),
        });
        console.log(JSON.stringify(summary));
        if (summary.frozen) process.exitCode = 2;
        return;
      }
      if (!file === !o.batch) throw new Error('--paced needs exactly one of --file PATH and --batch ID');
      const { readStrainFile, streamSeriesPaced, streamBatchPaced } = await import('../producers/gw-streamer/index.ts');
      const paced = {
        ...target, speed: num(o, 'speed')!, chunkSeconds: num(o, 'chunkSeconds')!,
        onChunk: (r: { i: number }) => console.log(JSON.stringify(r)),
      };
      const summary = o.batch
        ? await streamBatchPaced(String(o.source ?? o.datastore ?? 'default'), String(o.batch), paced)
        : await streamSeriesPaced(await readStrainFile(file!, times), paced);
      const { records, ...totals } = summary;
      console.log(JSON.stringify({ ...totals, lastSentMs: records.at(-1)?.sentMs ?? 0 }));
      if (summary.frozen) process.exitCode = 2;
    });
}

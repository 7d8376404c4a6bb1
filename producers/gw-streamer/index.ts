// gw-streamer: `tsx producers/gw-streamer/index.ts FILE [--url U] [--rate R] [--chunk N] [--token T]
// [--datastore ID] [--binary] [--concurrency C]`. The CLI's `dbb gw stream` calls streamFile() directly.
import { Command } from 'commander';
import { fileURLToPath } from 'node:url';
import { streamFile } from './stream.ts';

export { streamFile, streamSeries, sendChunk, chunksOf } from './stream.ts';
export { readStrainFile, parseStrainText } from './strain-file.ts';
export { replayPaced, streamSeriesPaced, streamBatchPaced, batchChunks, type PacedRecord, type PacedSummary } from './paced.ts';

export async function main(argv = process.argv) {
  const program = new Command('gw-streamer')
    .argument('<file>', 'GWOSC strain file (.hdf5/.h5 or .txt)')
    .option('--url <url>', 'gateway base URL', process.env.DBB_URL ?? 'http://127.0.0.1:8080')
    .option('--rate <chunks/s>', 'chunks per second (0 = as fast as answered)', '1')
    .option('--chunk <samples>', 'samples per chunk', '16384')
    .option('--token <token>', 'bearer token', process.env.DBB_TOKEN)
    .option('--datastore <id>', 'datastore id (default: the seed route /streamdata)')
    .option('--binary', 'send application/octet-stream (little-endian float64)')
    .option('--concurrency <n>', 'chunks in flight', '1');
  program.parse(argv);
  const o = program.opts();
  const summary = await streamFile(program.args[0], {
    url: o.url, rate: Number(o.rate), chunkSamples: Number(o.chunk), token: o.token, datastore: o.datastore,
    binary: Boolean(o.binary), concurrency: Number(o.concurrency),
    onChunk: (i, a) => console.log(JSON.stringify({ chunk: i, resp: a.resp, ...a.body })),
  });
  console.log(JSON.stringify(summary));
  if (summary.frozen) process.exitCode = 2;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().catch((err) => { console.error(err.message); process.exit(1); });
}

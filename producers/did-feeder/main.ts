// Stand-alone entry until the CLI wires `dbb ivoa load FILE` / `dbb ivoa stats`:
//   tsx producers/did-feeder/main.ts load FILE     tsx producers/did-feeder/main.ts stats
// Uses the same configuration (env) as `dbb up`.
import { loadConfig } from '../../platform/config.ts';
import { createLogger } from '../../platform/log.ts';
import { startPlatform } from '../../platform/runtime.ts';
import { ivoaStats, formatStats } from '../../projections/ivoa/stats.ts';
import { loadDidDump } from './index.ts';

async function main([cmd, file]: string[]): Promise<number> {
  if (cmd !== 'load' && cmd !== 'stats') { console.error('usage: main.ts load FILE | stats'); return 2; }
  if (cmd === 'load' && !file) { console.error('usage: main.ts load FILE'); return 2; }
  const config = loadConfig();
  const log = createLogger({ level: config.logLevel, name: 'did-feeder' });
  const platform = await startPlatform(config, { log, source: 'did-feeder', relay: false });
  try {
    if (cmd === 'stats') {
      console.log(formatStats(await ivoaStats({ db: platform.db, kafka: platform.kafka, config })));
      return 0;
    }
    const started = Date.now();
    const res = await loadDidDump(platform.appender, file, { onProgress: (n) => process.stderr.write(`\r${n} events`) });
    const s = (Date.now() - started) / 1000;
    process.stderr.write('\n');
    console.log(`${res.lines} lines, ${res.events} events in ${s.toFixed(1)} s (${Math.round(res.events / s)} events/s)`);
    for (const b of res.badLines) console.error(`line ${b.line}: ${b.error}`);
    return res.badLines.length ? 1 : 0;
  } finally {
    await platform.close();
  }
}

main(process.argv.slice(2)).then((code) => process.exit(code), (err) => { console.error(err); process.exit(1); });

// One benchmark in its own process (spawned by bench/run.ts): argv = <name> <options JSON>. Imports
// bench/<name>.ts, awaits its exported run(options) and prints the result as one marked JSON line.
import { join, dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { RESULT_MARK, type BenchResult } from './stack.ts';

const [name, optsJson] = process.argv.slice(2);
const file = join(dirname(fileURLToPath(import.meta.url)), '..', `${name}.ts`);
const mod = (await import(pathToFileURL(file).href)) as { run?: (opts: Record<string, unknown>) => Promise<BenchResult> };
if (typeof mod.run !== 'function') {
  console.error(`bench/${name}.ts exports no run(options)`);
  process.exit(2);
}
try {
  const result = await mod.run(JSON.parse(optsJson || '{}'));
  process.stdout.write(`\n${RESULT_MARK}${JSON.stringify(result)}\n`);
  process.exit(0);
} catch (err) {
  console.error(err);
  process.exit(1);
}

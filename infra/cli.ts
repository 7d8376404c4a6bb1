// Standalone entry for the native stack: tsx infra/cli.ts up|down|status|fetch [--state-dir DIR]
// (the dbb CLI calls the same functions; DBB_STATE_DIR / DATABASE_URL are honoured).
import { join } from 'node:path';
import { ensureStack, prefetchStack, stackStatus, stopStack } from './stack.ts';

const args = process.argv.slice(2);
const cmd = args[0] ?? 'status';
const i = args.indexOf('--state-dir');
const stateDir = i >= 0 ? args[i + 1] : process.env.DBB_STATE_DIR ?? join(process.cwd(), '.dbb');
const log = (msg: string) => console.error(`[infra] ${msg}`);

async function main() {
  const t0 = Date.now();
  if (cmd === 'up') {
    const info = await ensureStack({ stateDir, log });
    console.log(JSON.stringify({ ...info, ms: Date.now() - t0 }));
  } else if (cmd === 'fetch') {
    await prefetchStack({ stateDir, log });
  } else if (cmd === 'down') {
    const stopped = await stopStack({ stateDir, log });
    console.log(stopped.length ? `stopped: ${stopped.join(', ')}` : 'nothing to stop (no process started from this state dir)');
  } else if (cmd === 'status') {
    for (const s of await stackStatus({ stateDir })) console.log(`${s.name.padEnd(9)} ${(s.up ? 'up' : 'down').padEnd(5)} pid ${String(s.pid ?? '-').padEnd(8)} ${s.url}`);
  } else {
    console.error('usage: tsx infra/cli.ts up|down|status|fetch [--state-dir DIR]');
    process.exit(2);
  }
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});

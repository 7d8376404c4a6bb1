// The local dev profile of `dbb up`: simulators of the external systems that are not configured
// (the tape library's Scout API and the telescope's data-files service), on the TAPE_* default ports.
import type { Env } from '../platform/config.ts';
import { loadConfig } from '../platform/config.ts';
import { startTapeLibrarySim } from '../sim/tape-library/index.ts';
import { startDataFilesSim } from '../sim/data-files/index.ts';

export async function startDevSimulators(env: Env, log: (m: string) => void): Promise<{ stop(): Promise<void> }> {
  const stops: (() => Promise<void>)[] = [];
  if (!env.TAPE_SCOUT_URLS) {
    const sim = await startTapeLibrarySim({ kafkaBrokers: loadConfig(env).kafkaBrokers, port: 8091, stageDelayMs: 2000, stageIntervalMs: 100 });
    stops.push(() => sim.stop());
    log(`tape library simulator (Scout API) at ${sim.url}; set TAPE_SCOUT_URLS to use a real library`);
  }
  if (!env.TAPE_DATA_FILES_URL) {
    const df = await startDataFilesSim({ port: 8092, synthesize: 24 });
    stops.push(() => df.stop());
    log(`data-files simulator at ${df.url}`);
  }
  return { async stop() { for (const s of stops) await s().catch(() => {}); } };
}

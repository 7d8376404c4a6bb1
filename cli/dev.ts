// The local dev profile of `dbb up`: simulators of the external systems that are not configured
// (the tape library's Scout API and the telescope's data-files service), on the TAPE_* default ports.
// The tape library runs as its own detached process (infra/tape-sim.ts): a SIGKILL of `dbb up` leaves it
// running, as a real library would be, and the next `dbb up` reuses it; stop() (Ctrl-C) and `dbb down` stop it.
import type { Env } from '../platform/config.ts';
import { loadConfig } from '../platform/config.ts';
import { ensureTapeSim, stopTapeSim } from '../infra/tape-sim.ts';
import { startDataFilesSim } from '../sim/data-files/index.ts';

/** `env`: what the system must be started with to reach the simulators (TAPE_SCOUT_URLS when not on the default port). */
export async function startDevSimulators(env: Env, log: (m: string) => void): Promise<{ env: Env; stop(): Promise<void> }> {
  const stops: (() => Promise<unknown>)[] = [];
  const extra: Env = {};
  if (!env.TAPE_SCOUT_URLS) {
    const config = loadConfig(env);
    const port = Number(env.DBB_TAPE_SIM_PORT || 8091);
    const sim = await ensureTapeSim({ stateDir: config.stateDir, port, kafkaBrokers: config.kafkaBrokers, by: `dbb up (pid ${process.pid})`, env: env as NodeJS.ProcessEnv, log });
    stops.push(() => stopTapeSim(config.stateDir, log));
    if (port !== 8091) extra.TAPE_SCOUT_URLS = sim.url;
    log(`tape library simulator (Scout API) at ${sim.url}, pid ${sim.pid}${sim.started ? '' : ' (still running from an earlier run)'}; set TAPE_SCOUT_URLS to use a real library`);
  }
  if (!env.TAPE_DATA_FILES_URL) {
    const df = await startDataFilesSim({ port: 8092, synthesize: 24 });
    stops.push(() => df.stop());
    log(`data-files simulator at ${df.url}`);
  }
  return { env: extra, async stop() { for (const s of stops) await s().catch(() => {}); } };
}

// The tape-library simulator as its own process (`dbb up` starts it detached, infra/tape-sim.ts), so
// that killing the system does not kill the library: what it staged meanwhile is still published.
// Env: TAPE_SIM_PORT (8091), KAFKA_BROKERS, TAPE_SIM_STAGE_DELAY_MS (2000), TAPE_SIM_STAGE_INTERVAL_MS
// (100), TAPE_SIM_FAILURE_RATE (0), TAPE_SIM_LOSE_MATCH (files whose path contains it never notify).
import { startTapeLibrarySim } from './index.ts';

const env = process.env;
const num = (name: string, dflt: number) => (env[name] ? Number(env[name]) : dflt);
const lose = env.TAPE_SIM_LOSE_MATCH;

const sim = await startTapeLibrarySim({
  kafkaBrokers: (env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(','),
  port: num('TAPE_SIM_PORT', 8091),
  stageDelayMs: num('TAPE_SIM_STAGE_DELAY_MS', 2000),
  stageIntervalMs: num('TAPE_SIM_STAGE_INTERVAL_MS', 100),
  failureRate: num('TAPE_SIM_FAILURE_RATE', 0),
  ...(lose ? { loseNotification: (p: string) => p.includes(lose) } : {}),
});
console.log(`tape library simulator (Scout API) at ${sim.url}`);

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  await sim.stop().catch(() => {});
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

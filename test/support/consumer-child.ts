// Child-process entry of spawnConsumers(): argv = <module> <factory>.
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { loadConfig } from '../../platform/config.ts';
import { createLogger } from '../../platform/log.ts';
import { startPlatform } from '../../platform/runtime.ts';
import type { ConsumerSpec, DomainDeps } from '../../platform/types.ts';

const [module, factory] = process.argv.slice(2);
const config = loadConfig(process.env);
const log = createLogger({ level: config.logLevel, name: 'consumer-child' });
const mod = await import(pathToFileURL(join(process.cwd(), module)).href);
const make = mod[factory] as (deps: DomainDeps) => ConsumerSpec | ConsumerSpec[];
const platform = await startPlatform(config, { env: process.env, log, source: `child:${factory}` });
const specs = [make(platform.domainDeps)].flat();
for (const spec of specs) await platform.startConsumer(spec);
process.stdout.write('ready\n');
const stop = async () => { await platform.close(); process.exit(0); };
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

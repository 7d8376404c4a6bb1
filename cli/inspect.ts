// `dbb tail`: decoded events of one topic as JSON lines. The other read-only looks (topics, lag, dead
// letters) are platform/inspect.ts.
import { createKafka } from '../platform/kafka.ts';
import { loadCatalog } from '../platform/catalog.ts';
import { Serde } from '../platform/registry.ts';
import { ns, type Config } from '../platform/config.ts';
import { quiet } from '../platform/inspect.ts';

export async function tailTopic(config: Config, topic: string, opts: { fromBeginning: boolean; max?: number }) {
  const serde = new Serde(loadCatalog(), config);
  const kafka = createKafka(config, quiet(), 'dbb-tail');
  const consumer = kafka.consumer({ groupId: ns(config, `dbb.cli.tail.${process.pid}.${Date.now()}`), maxWaitTimeInMs: 200 });
  await consumer.connect();
  await consumer.subscribe({ topics: [ns(config, topic)], fromBeginning: opts.fromBeginning });
  let n = 0;
  await new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    void consumer.run({
      eachMessage: async ({ partition, message }) => {
        try {
          const d = await serde.decode(message.value);
          console.log(JSON.stringify({ partition, offset: message.offset, key: message.key?.toString(), type: d.entry.name, value: d.value },
            (_k, v) => (v && v.type === 'Buffer' && Array.isArray(v.data) ? `<${v.data.length} bytes>` : v)));
        } catch (err) {
          console.log(JSON.stringify({ partition, offset: message.offset, undecodable: (err as Error).message, headers: Object.fromEntries(Object.entries(message.headers ?? {}).map(([k, v]) => [k, String(v)])) }));
        }
        if (opts.max && ++n >= opts.max) resolve();
      },
    });
  });
  await consumer.disconnect();
}

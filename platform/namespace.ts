// Removes everything a namespace (DBB_NAMESPACE) left on a shared broker and registry: consumer groups,
// topics, subjects (soft, then permanently). For the test and benchmark harnesses, so a developer's own
// stack never shows their leftovers; a deployment never calls it.
import { createKafka } from './kafka.ts';
import type { Config } from './config.ts';
import { createLogger } from './log.ts';

export async function deleteNamespace(config: Pick<Config, 'namespace' | 'registryUrl' | 'kafkaBrokers'>): Promise<void> {
  const prefix = config.namespace;
  if (!prefix) return;
  const admin = createKafka(config, createLogger({ level: 'silent' }), 'dbb-cleanup').admin();
  await admin.connect();
  try {
    const groups = (await admin.listGroups()).groups.map((g) => g.groupId).filter((g) => g.startsWith(prefix));
    if (groups.length) await admin.deleteGroups(groups).catch(() => {});
    const topics = (await admin.listTopics()).filter((t) => t.startsWith(prefix));
    if (topics.length) await admin.deleteTopics({ topics, timeout: 10_000 });
  } finally {
    await admin.disconnect();
  }
  const subjects = await (await fetch(`${config.registryUrl}/subjects?subjectPrefix=${encodeURIComponent(prefix)}`)).json() as string[];
  for (const s of subjects.filter((x) => x.startsWith(prefix))) {
    const url = `${config.registryUrl}/subjects/${encodeURIComponent(s)}`;
    await fetch(url, { method: 'DELETE' });
    await fetch(`${url}?permanent=true`, { method: 'DELETE' });
  }
}

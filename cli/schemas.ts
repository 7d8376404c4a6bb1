// `dbb schemas check`: every catalog schema must be compatible with every registered version of its
// subject (BACKWARD_TRANSITIVE, checked version by version so the answer does not depend on the
// subject's configured level). New subjects pass.
import { loadCatalog, type Catalog } from '../platform/catalog.ts';
import { subjectOf } from '../platform/registry.ts';
import type { Config } from '../platform/config.ts';

export async function checkSchemas(config: Pick<Config, 'namespace' | 'registryUrl'>, log: (m: string) => void = () => {}, catalog: Catalog = loadCatalog()): Promise<string[]> {
  const problems: string[] = [];
  const base = config.registryUrl.replace(/\/$/, '');
  const headers = { 'content-type': 'application/vnd.schemaregistry.v1+json' };
  for (const entry of catalog.byName.values()) {
    const subject = subjectOf(config, entry);
    const res = await fetch(`${base}/subjects/${encodeURIComponent(subject)}/versions`);
    if (res.status === 404) { await res.arrayBuffer(); log(`new       ${subject}`); continue; }
    if (!res.ok) throw new Error(`registry answered ${res.status} for ${subject}: ${await res.text()}`);
    const versions = (await res.json()) as number[];
    for (const v of versions) {
      const c = await fetch(`${base}/compatibility/subjects/${encodeURIComponent(subject)}/versions/${v}`, {
        method: 'POST', headers, body: JSON.stringify({ schema: JSON.stringify(entry.schema), schemaType: 'AVRO' }),
      });
      const body = (await c.json()) as { is_compatible?: boolean; messages?: string[] };
      if (!c.ok) throw new Error(`registry answered ${c.status} checking ${subject} v${v}: ${JSON.stringify(body)}`);
      if (body.is_compatible === false) problems.push(`${subject} (version ${v}): ${(body.messages ?? []).join('; ') || 'incompatible'} — ${entry.file}`);
    }
    log(`${problems.some((p) => p.startsWith(subject + ' ')) ? 'BROKEN' : 'ok'}        ${subject} (${versions.length} version${versions.length === 1 ? '' : 's'})`);
  }
  return problems;
}

// The event catalog: every schemas/<domain>/<Event>.avsc, with shared records from schemas/common
// inlined so each registered schema is self-contained. The `topic` attribute of a schema names the
// topic its events live on; event names are unique across domains.
import { readdirSync, readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

export const SCHEMAS_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'schemas');

export interface CatalogEntry {
  name: string; // short name, e.g. GwChunkReceived
  fullName: string; // Avro full name, e.g. dbb.gw.GwChunkReceived
  domain: string;
  topic: string; // base topic, e.g. dbb.gw.datastore (a namespace prefix is added at run time)
  schema: AvroRecord; // self-contained (common records inlined)
  partitions?: number; // the schema's optional "partitions" attribute: partition count of its topic
  topicConfig?: Record<string, string>; // the schema's optional "topicConfig" attribute, e.g. {"retention.ms": "604800000"}
  file: string;
}

export interface AvroRecord {
  type: 'record';
  name: string;
  namespace?: string;
  doc?: string;
  topic?: string;
  partitions?: number;
  topicConfig?: Record<string, string>;
  fields: { name: string; type: unknown; default?: unknown; doc?: string }[];
}

/** Schema folders that only the platform's tests use. */
export const TEST_DOMAINS = ['example', 'torture'];

export class Catalog {
  readonly byName = new Map<string, CatalogEntry>();
  readonly byFullName = new Map<string, CatalogEntry>();

  /** The same catalog without the schemas that exist only for the platform's own tests (`example`,
   *  `torture`): a deployment creates neither their topics nor their subjects. */
  withoutTestDomains(): Catalog {
    return new Catalog([...this.byName.values()].filter((e) => !TEST_DOMAINS.includes(e.domain)));
  }

  constructor(entries: CatalogEntry[]) {
    for (const e of entries) {
      const clash = this.byName.get(e.name);
      if (clash) throw new Error(`event name ${e.name} is defined twice: ${clash.file} and ${e.file}`);
      this.byName.set(e.name, e);
      this.byFullName.set(e.fullName, e);
    }
  }

  get(name: string): CatalogEntry {
    const e = this.byName.get(name) ?? this.byFullName.get(name);
    if (!e) throw new Error(`unknown event type ${name}: no schemas/<domain>/${name}.avsc`);
    return e;
  }

  topics(): string[] {
    return [...new Set([...this.byName.values()].map((e) => e.topic))].sort();
  }

  /** Partition count of a topic: the largest "partitions" attribute among its events, if any. */
  partitionsOf(topic: string): number | undefined {
    const ps = this.eventsOn(topic).map((e) => e.partitions).filter((p): p is number => p !== undefined);
    return ps.length ? Math.max(...ps) : undefined;
  }

  /** Topic configs: retention.ms=-1 (the log is the truth) unless an event of the topic says otherwise. */
  topicConfigOf(topic: string): Record<string, string> {
    return Object.assign({ 'retention.ms': '-1' }, ...this.eventsOn(topic).map((e) => e.topicConfig ?? {}));
  }

  eventsOn(topic: string): CatalogEntry[] {
    return [...this.byName.values()].filter((e) => e.topic === topic);
  }
}

function readJson(file: string): any {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`${file}: not valid JSON: ${(err as Error).message}`);
  }
}

export function loadCommonRecords(dir = SCHEMAS_DIR): Map<string, AvroRecord> {
  const common = new Map<string, AvroRecord>();
  for (const f of readdirSync(join(dir, 'common')).filter((f) => f.endsWith('.avsc')).sort()) {
    const rec = readJson(join(dir, 'common', f)) as AvroRecord;
    common.set(`${rec.namespace}.${rec.name}`, rec);
  }
  return common;
}

/** Replaces the first use of each common record name with its definition (Avro allows one definition per name). */
function inlineCommon(type: unknown, common: Map<string, AvroRecord>, seen: Set<string>): unknown {
  if (typeof type === 'string') {
    const rec = common.get(type);
    if (!rec || seen.has(type)) return type;
    seen.add(type);
    return { ...rec, fields: rec.fields.map((f) => ({ ...f, type: inlineCommon(f.type, common, seen) })) };
  }
  if (Array.isArray(type)) return type.map((t) => inlineCommon(t, common, seen));
  if (type && typeof type === 'object') {
    const t = type as Record<string, unknown>;
    if (t.type === 'record') {
      return { ...t, fields: (t.fields as any[]).map((f) => ({ ...f, type: inlineCommon(f.type, common, seen) })) };
    }
    if (t.type === 'array') return { ...t, items: inlineCommon(t.items, common, seen) };
    if (t.type === 'map') return { ...t, values: inlineCommon(t.values, common, seen) };
  }
  return type;
}

export function loadCatalog(dir = SCHEMAS_DIR): Catalog {
  const common = loadCommonRecords(dir);
  const entries: CatalogEntry[] = [];
  const domains = readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isDirectory() && d.name !== 'common' && d.name !== 'generated')
    .map((d) => d.name)
    .sort();
  for (const domain of domains) {
    for (const f of readdirSync(join(dir, domain)).filter((f) => f.endsWith('.avsc')).sort()) {
      const file = join(dir, domain, f);
      const raw = readJson(file) as AvroRecord;
      if (raw.type !== 'record' || !raw.name || !raw.namespace) throw new Error(`${file}: must be a named record with a namespace`);
      if (`${raw.name}.avsc` !== f) throw new Error(`${file}: file name must be ${raw.name}.avsc`);
      if (!raw.topic || !raw.topic.startsWith(`dbb.${domain}.`)) throw new Error(`${file}: "topic" must be dbb.${domain}.<stream>`);
      if (!raw.fields.some((fl) => fl.name === 'meta' && fl.type === 'dbb.common.Meta')) {
        throw new Error(`${file}: first field must be { "name": "meta", "type": "dbb.common.Meta" }`);
      }
      const schema = inlineCommon(raw, common, new Set()) as AvroRecord;
      if (raw.partitions !== undefined && !(Number.isInteger(raw.partitions) && raw.partitions >= 1)) throw new Error(`${file}: "partitions" must be a positive integer`);
      if (raw.topicConfig !== undefined && (typeof raw.topicConfig !== 'object' || Object.values(raw.topicConfig).some((v) => typeof v !== 'string'))) {
        throw new Error(`${file}: "topicConfig" must be an object of string values (Kafka topic configs)`);
      }
      entries.push({ name: raw.name, fullName: `${raw.namespace}.${raw.name}`, domain, topic: raw.topic, schema, file, partitions: raw.partitions, topicConfig: raw.topicConfig });
    }
  }
  return new Catalog(entries);
}

// Registry-backed Avro serde in the Confluent wire format (magic 0, 4-byte schema id, Avro body).
// Subjects follow TopicRecordNameStrategy: `<topic>-<record full name>`, compatibility BACKWARD_TRANSITIVE.
import { SchemaRegistry, SchemaType, COMPATIBILITY } from '@kafkajs/confluent-schema-registry';
import avro from 'avsc';
import type { Catalog, CatalogEntry } from './catalog.ts';
import { ns, type Config } from './config.ts';
import { InvalidEventError, TransientError } from './errors.ts';

type Middleware = NonNullable<ConstructorParameters<typeof SchemaRegistry>[0]['middlewares']>[number];
export type RegistryAuth = Pick<Config, 'registryUsername' | 'registryPassword' | 'registryToken'>;

/** Basic auth (user + password, e.g. a Confluent Cloud API key) or a bearer token for the registry client. */
export function registryAuth(config: Partial<RegistryAuth>): { auth?: { username: string; password: string }; middlewares?: Middleware[] } {
  if (config.registryToken) {
    const authorization = `Bearer ${config.registryToken}`;
    return { middlewares: [() => ({ prepareRequest: (next) => next().then((req) => req.enhance({ headers: { authorization } })) })] };
  }
  if (config.registryUsername) return { auth: { username: config.registryUsername, password: config.registryPassword ?? '' } };
  return {};
}

export interface Decoded { entry: CatalogEntry; value: Record<string, any>; schemaId: number }

export const subjectOf = (config: Pick<Config, 'namespace'>, entry: CatalogEntry) => `${ns(config, entry.topic)}-${entry.fullName}`;

type Writer = { entry: CatalogEntry; decode: (buf: Buffer) => any };

export class Serde {
  private readonly types = new Map<string, avro.Type>(); // by full name: reader (our) types
  private readonly ids = new Map<string, number>(); // by full name: our registered schema id
  private readonly writers = new Map<number, Writer>();
  private readonly loading = new Map<number, Promise<Writer>>();
  readonly registry: SchemaRegistry;

  constructor(readonly catalog: Catalog, private readonly config: Pick<Config, 'namespace' | 'registryUrl'> & Partial<RegistryAuth>) {
    this.registry = new SchemaRegistry({ host: config.registryUrl, retry: { retries: 5 }, ...registryAuth(config) });
    for (const e of catalog.byName.values()) this.types.set(e.fullName, avro.Type.forSchema(e.schema as avro.Schema));
  }

  /** Registers every catalog schema (idempotent: an identical schema keeps its id). */
  async registerAll(): Promise<void> {
    for (const e of this.catalog.byName.values()) {
      const { id } = await this.registry.register(
        { type: SchemaType.AVRO, schema: JSON.stringify(e.schema) },
        { subject: subjectOf(this.config, e), compatibility: COMPATIBILITY.BACKWARD_TRANSITIVE },
      );
      this.ids.set(e.fullName, id);
    }
  }

  encode(name: string, value: unknown): Buffer {
    const entry = this.catalog.get(name);
    const id = this.ids.get(entry.fullName);
    if (id === undefined) throw new Error(`schema of ${entry.fullName} is not registered: call registerAll() first`);
    const type = this.types.get(entry.fullName)!;
    const errors: string[] = [];
    if (!type.isValid(value, { errorHook: (path) => errors.push(path.join('.') || '<root>') })) {
      throw new InvalidEventError(`${entry.name} does not match its schema at ${errors.join(', ')}`);
    }
    const body = type.toBuffer(value);
    const out = Buffer.allocUnsafe(5 + body.length);
    out[0] = 0;
    out.writeInt32BE(id, 1);
    body.copy(out, 5);
    return out;
  }

  /** Decodes with the writer's schema from the registry, resolved to our reader schema. */
  async decode(buf: Buffer | null): Promise<Decoded> {
    if (!buf || buf.length < 5 || buf[0] !== 0) throw new InvalidEventError('not Confluent wire format (missing magic byte 0 + schema id)');
    const schemaId = buf.readInt32BE(1);
    let writer = this.writers.get(schemaId);
    if (!writer) {
      // a batch decodes its records concurrently: one registry fetch and resolver per new schema id, not one per record
      let loading = this.loading.get(schemaId);
      if (!loading) {
        loading = this.loadWriter(schemaId).finally(() => this.loading.delete(schemaId));
        this.loading.set(schemaId, loading);
      }
      writer = await loading;
    }
    try {
      return { entry: writer.entry, value: writer.decode(buf.subarray(5)), schemaId };
    } catch (err) {
      throw new InvalidEventError(`undecodable ${writer.entry.fullName} body (schema id ${schemaId}): ${(err as Error).message}`);
    }
  }

  private async loadWriter(schemaId: number): Promise<Writer> {
    let writerType: avro.Type;
    try {
      writerType = (await this.registry.getSchema(schemaId)) as unknown as avro.Type;
    } catch (err) {
      const status = (err as { status?: number }).status;
      if (status === 404 || /not found/i.test(String((err as Error).message))) throw new InvalidEventError(`unknown schema id ${schemaId}`);
      throw new TransientError(`registry unavailable while fetching schema ${schemaId}`, err);
    }
    const entry = this.catalog.byFullName.get(writerType.name ?? '');
    if (!entry) throw new InvalidEventError(`schema id ${schemaId} is ${writerType.name}, which is not an event of this catalog`);
    const reader = this.types.get(entry.fullName)!;
    const resolver = reader.createResolver(writerType);
    const w = { entry, decode: (b: Buffer) => reader.fromBuffer(b, resolver, true) };
    this.writers.set(schemaId, w);
    return w;
  }
}

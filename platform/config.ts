// Configuration from environment variables, validated at start with TypeBox. A bad value stops the
// process with a message naming the variable. Domains parse their own section with `parseEnv`.
import { Type, type TSchema, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export type Env = Record<string, string | undefined>;

export class ConfigError extends Error {
  constructor(readonly key: string, message: string) {
    super(`config ${key}: ${message}`);
    this.name = 'ConfigError';
  }
}

/** One config key: its env var, schema, default, and doc (README's config table is generated from these). */
export interface KeySpec<S extends TSchema = TSchema> {
  env: string;
  schema: S;
  default?: Static<S>;
  doc: string;
  secret?: boolean;
}

export const key = <S extends TSchema>(env: string, schema: S, doc: string, dflt?: Static<S>, secret = false): KeySpec<S> => ({
  env, schema, doc, default: dflt, secret,
});

type Parsed<T extends Record<string, KeySpec>> = { [K in keyof T]: Static<T[K]['schema']> };

/** Reads each key from env (strings converted to the schema's type), applies defaults, and throws ConfigError naming the first bad key. */
export function parseEnv<T extends Record<string, KeySpec>>(spec: T, env: Env): Parsed<T> {
  const out: Record<string, unknown> = {};
  for (const [name, k] of Object.entries(spec)) {
    // a secret may come from a file instead (<VAR>_FILE, e.g. a mounted Kubernetes/systemd credential)
    const file = k.secret && !env[k.env] ? env[`${k.env}_FILE`] : undefined;
    let raw = env[k.env];
    if (file) {
      try { raw = readFileSync(file, 'utf8').trim(); } catch (err) { throw new ConfigError(`${k.env}_FILE`, `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`); }
    }
    if (raw === undefined || raw === '') {
      if (k.default === undefined) throw new ConfigError(k.env, `required (${k.doc})`);
      out[name] = k.default;
      continue;
    }
    let value: unknown = raw;
    const type = (k.schema as { type?: string }).type;
    if (type === 'array') value = raw.split(',').map((s) => s.trim()).filter(Boolean);
    else if (type === 'object') {
      try { value = JSON.parse(raw); } catch { throw new ConfigError(k.env, 'must be JSON'); }
    } else value = Value.Convert(k.schema, raw);
    if (!Value.Check(k.schema, value)) {
      const first = [...Value.Errors(k.schema, value)][0];
      throw new ConfigError(k.env, `${first?.message ?? 'invalid'} (got ${k.secret ? '<redacted>' : JSON.stringify(raw)})`);
    }
    out[name] = value;
  }
  return out as Parsed<T>;
}

const Port = Type.Integer({ minimum: 0, maximum: 65535 });
const Positive = Type.Integer({ minimum: 1 });

export const CORE_KEYS = {
  testSchemas: key('DBB_TEST_SCHEMAS', Type.Boolean(), "also create the topics and subjects of the platform's test-only schemas (schemas/example, schemas/torture); the test harness sets it", false),
  namespace: key('DBB_NAMESPACE', Type.String({ pattern: '^[a-z0-9_-]*\\.?$' }), 'prefix for topics, consumer groups and subjects (lets several stacks share one broker), e.g. "test1."', ''),
  stateDir: key('DBB_STATE_DIR', Type.String(), 'where the native stack keeps Kafka/registry data and pid files', join(process.cwd(), '.dbb')),
  kafkaBrokers: key('KAFKA_BROKERS', Type.Array(Type.String({ minLength: 1 }), { minItems: 1 }), 'comma-separated bootstrap brokers', ['127.0.0.1:9092']),
  kafkaPartitions: key('KAFKA_PARTITIONS', Positive, 'partitions of each new topic (the most active instances a consumer group can use); existing topics keep theirs', 3),
  kafkaReplicationFactor: key('KAFKA_REPLICATION_FACTOR', Type.Integer({ minimum: 0 }), 'replicas of each new topic and DLQ; 0 = from the cluster size: min(3, brokers)', 0),
  kafkaMinInsyncReplicas: key('KAFKA_MIN_INSYNC_REPLICAS', Type.Integer({ minimum: 0 }), 'min.insync.replicas of each new topic (acks=all fails below it); 0 = replication factor − 1 (at least 1)', 0),
  kafkaSaslMechanism: key('KAFKA_SASL_MECHANISM', Type.Union([Type.Literal(''), Type.Literal('scram-sha-256'), Type.Literal('scram-sha-512'), Type.Literal('plain')]), 'SASL mechanism for Kafka; empty = no SASL', ''),
  kafkaSaslUsername: key('KAFKA_SASL_USERNAME', Type.String(), 'SASL user name', ''),
  kafkaSaslPassword: key('KAFKA_SASL_PASSWORD', Type.String(), 'SASL password (or KAFKA_SASL_PASSWORD_FILE)', '', true),
  kafkaSsl: key('KAFKA_SSL', Type.Boolean(), 'TLS to the brokers', false),
  kafkaSslCaFile: key('KAFKA_SSL_CA_FILE', Type.String(), 'PEM file of the CA(s) the brokers\' certificates chain to; empty = the system CAs', ''),
  registryUrl: key('SCHEMA_REGISTRY_URL', Type.String({ pattern: '^https?://' }), 'Confluent-compatible schema registry base URL', 'http://127.0.0.1:8081/apis/ccompat/v7'),
  registryUsername: key('SCHEMA_REGISTRY_USERNAME', Type.String(), 'registry basic-auth user (Confluent Cloud: the API key)', ''),
  registryPassword: key('SCHEMA_REGISTRY_PASSWORD', Type.String(), 'registry basic-auth password (or SCHEMA_REGISTRY_PASSWORD_FILE)', '', true),
  registryToken: key('SCHEMA_REGISTRY_TOKEN', Type.String(), 'registry bearer token instead of basic auth (or SCHEMA_REGISTRY_TOKEN_FILE)', '', true),
  databaseUrl: key('DATABASE_URL', Type.String({ pattern: '^postgres(ql)?://' }), 'Postgres connection string', 'postgres://postgres@127.0.0.1:5432/dbb', true),
  host: key('DBB_HOST', Type.String(), 'gateway listen address', '127.0.0.1'),
  port: key('DBB_PORT', Port, 'gateway listen port', 8080),
  bodyLimit: key('DBB_BODY_LIMIT', Type.Integer({ minimum: 1024, maximum: 1024 * 1024 }), 'largest request body of the control and seed routes, bytes (at most 1 MiB; larger → 413; GW chunk uploads have GW_MAX_CHUNK_BYTES)', 1024 * 1024),
  replyTimeoutMs: key('DBB_REPLY_TIMEOUT_MS', Positive, 'how long a synchronous route waits for its outcome event, ms', 10_000),
  tokens: key('DBB_TOKENS', Type.Array(Type.String({ pattern: '^[^:]+:(reader|producer|operator):[0-9a-f]{64}(:user=[A-Za-z0-9_][A-Za-z0-9_.-]{0,63})?$' })), 'bearer tokens as name:role:sha256hex(token)[:user=<username>], comma-separated; a token bound to a user (:user=alice) may stage only into that user\'s area and sees only that user\'s staging requests and log; an unbound producer token acts for any user (trusted frontend)', [], true),
  anonymousRoutes: key('DBB_ANONYMOUS_ROUTES', Type.Array(Type.String()), 'route groups open without a token (e.g. gw-seed,staging-seed,tape-seed); empty = none', []),
  logLevel: key('LOG_LEVEL', Type.Union([Type.Literal('trace'), Type.Literal('debug'), Type.Literal('info'), Type.Literal('warn'), Type.Literal('error'), Type.Literal('silent')]), 'pino log level', 'info'),
  batchMaxRecords: key('DBB_BATCH_MAX', Positive, 'records per consumer transaction', 500),
  dbPoolSize: key('DBB_PG_POOL', Type.Integer({ minimum: 2 }), 'Postgres connections per process (consumer batches wait for one when all are busy)', 16),
  sessionTimeoutMs: key('DBB_SESSION_TIMEOUT_MS', Type.Integer({ minimum: 6000 }), 'consumer group session timeout, ms: how long a dead instance holds its partitions', 30_000),
  processedIdsRetentionH: key('DBB_DEDUPE_RETENTION_H', Positive, 'hours a consumer remembers processed event ids', 24 * 7),
};

export type Config = Parsed<typeof CORE_KEYS>;

export function loadConfig(env: Env = process.env): Config {
  return parseEnv(CORE_KEYS, env);
}

/** Topic, group and subject names with the namespace applied. */
export const ns = (config: Pick<Config, 'namespace'>, name: string) => `${config.namespace}${name}`;

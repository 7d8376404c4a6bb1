import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from './config.ts';
import { kafkaSecurity, topicSizing } from './kafka.ts';
import { registryAuth } from './registry.ts';

describe('topicSizing', () => {
  it('follows the cluster size when config says 0: RF = min(3, brokers), min ISR = RF - 1 (at least 1)', () => {
    expect(topicSizing({}, 1)).toEqual({ partitions: 3, replicationFactor: 1, minInsyncReplicas: 1 });
    expect(topicSizing({}, 2)).toEqual({ partitions: 3, replicationFactor: 2, minInsyncReplicas: 1 });
    expect(topicSizing({}, 3)).toEqual({ partitions: 3, replicationFactor: 3, minInsyncReplicas: 2 });
    expect(topicSizing({ kafkaPartitions: 12 }, 5)).toEqual({ partitions: 12, replicationFactor: 3, minInsyncReplicas: 2 });
  });
  it('takes explicit values and refuses impossible ones', () => {
    expect(topicSizing({ kafkaReplicationFactor: 2, kafkaMinInsyncReplicas: 2 }, 3)).toMatchObject({ replicationFactor: 2, minInsyncReplicas: 2 });
    expect(() => topicSizing({ kafkaReplicationFactor: 3 }, 1)).toThrow(/exceeds the 1 broker/);
    expect(() => topicSizing({ kafkaReplicationFactor: 2, kafkaMinInsyncReplicas: 3 }, 3)).toThrow(/exceeds the replication factor/);
  });
});

describe('Kafka and registry security from config', () => {
  it('reads the SASL password from KAFKA_SASL_PASSWORD_FILE and builds kafkajs sasl + ssl options', () => {
    const dir = mkdtempSync(join(tmpdir(), 'dbb-kafka-sec-'));
    writeFileSync(join(dir, 'pw'), 's3cret\n');
    writeFileSync(join(dir, 'ca.pem'), 'PEM');
    const config = loadConfig({ KAFKA_SASL_MECHANISM: 'scram-sha-512', KAFKA_SASL_USERNAME: 'dbb', KAFKA_SASL_PASSWORD_FILE: join(dir, 'pw'), KAFKA_SSL: 'true', KAFKA_SSL_CA_FILE: join(dir, 'ca.pem') });
    expect(kafkaSecurity(config)).toEqual({ sasl: { mechanism: 'scram-sha-512', username: 'dbb', password: 's3cret' }, ssl: { ca: ['PEM'] } });
  });
  it('adds nothing without config, and refuses a mechanism without credentials', () => {
    expect(kafkaSecurity(loadConfig({}))).toEqual({});
    expect(() => kafkaSecurity(loadConfig({ KAFKA_SASL_MECHANISM: 'scram-sha-256' }))).toThrow(/KAFKA_SASL_USERNAME/);
  });
  it('names the _FILE variable when the secret file is missing, without its content', () => {
    expect(() => loadConfig({ SCHEMA_REGISTRY_PASSWORD_FILE: '/nonexistent/pw' })).toThrow(/SCHEMA_REGISTRY_PASSWORD_FILE: cannot read \/nonexistent\/pw: ENOENT/);
  });
  it('registry: basic auth from user + password, a bearer token instead when one is set', () => {
    expect(registryAuth(loadConfig({ SCHEMA_REGISTRY_USERNAME: 'key', SCHEMA_REGISTRY_PASSWORD: 'secret' }))).toEqual({ auth: { username: 'key', password: 'secret' } });
    expect(registryAuth(loadConfig({ SCHEMA_REGISTRY_TOKEN: 'tok' })).middlewares).toHaveLength(1);
    expect(registryAuth(loadConfig({}))).toEqual({});
  });
});

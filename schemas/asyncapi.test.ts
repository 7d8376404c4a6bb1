// The AsyncAPI document is checked like the generated types: `npm run asyncapi:gen -- --check` (in `npm run check`)
// fails when docs/asyncapi.yaml no longer matches the schemas.
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { Catalog, loadCatalog } from '../platform/catalog.ts';
import { ASYNCAPI_FILE, checkAsyncApi, generateAsyncApi } from './asyncapi.ts';

describe('AsyncAPI document', () => {
  const text = generateAsyncApi();

  it('has every topic with its key, and every event with its Avro schema', () => {
    const doc = parse(text);
    expect(doc.asyncapi).toBe('3.0.0');
    const catalog = loadCatalog().withoutTestDomains();
    const addresses = Object.values(doc.channels as Record<string, { address: string }>).map((c) => c.address).sort();
    expect(addresses).toEqual(catalog.topics());
    for (const e of catalog.byName.values()) {
      const m = doc.components.messages[e.name];
      expect(m.payload.schema.name).toBe(e.name);
      expect(m.payload.schema.fields[0].name).toBe('meta');
      expect(m.bindings.kafka.key.description).toBeTruthy();
    }
    expect(addresses.some((a) => a.includes('torture') || a.includes('example'))).toBe(false);
  });

  it('the checked-in docs/asyncapi.yaml is current', () => {
    expect(checkAsyncApi(ASYNCAPI_FILE, text)).toBeNull();
  });

  it('--check fails on a stale document and passes on a fresh one', () => {
    const dir = mkdtempSync(join(tmpdir(), 'asyncapi-'));
    try {
      const file = join(dir, 'asyncapi.yaml');
      const run = () => spawnSync(process.execPath, ['--import', 'tsx', 'schemas/asyncapi.ts', '--check', '--file', file], { encoding: 'utf8' });
      writeFileSync(file, text);
      expect(run().status).toBe(0);
      // a schema gained a field the document does not have yet
      writeFileSync(file, text.replace('name: nSamples', 'name: samples'));
      expect(readFileSync(file, 'utf8')).not.toBe(text);
      const stale = run();
      expect(stale.status).toBe(1);
      expect(stale.stderr).toMatch(/is stale: run npm run asyncapi:gen/);
      rmSync(file);
      expect(run().status).toBe(1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000); // three child processes that load tsx: seconds each on a busy 2-core machine

  it('a topic without a key description fails generation', () => {
    const e = [...loadCatalog().withoutTestDomains().byName.values()][0]!;
    expect(() => generateAsyncApi(new Catalog([{ ...e, topic: 'dbb.gw.unkeyed' }]))).toThrow(/no key description/);
  });
});

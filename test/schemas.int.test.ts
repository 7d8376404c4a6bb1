// Schema evolution against the real registry: checkSchemas (cli/schemas.ts) passes the registered
// catalog and compatible changes, reports incompatible ones (a new required field, a changed type);
// `dbb schemas check` exits 0 / non-zero accordingly; `schemas/generate.ts --check` fails when the
// generated types are stale (on a copy of schemas/, so the work tree is never touched).
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { Catalog, loadCatalog, type AvroRecord, type CatalogEntry } from '../platform/catalog.ts';
import { Serde, subjectOf } from '../platform/registry.ts';
import { checkSchemas } from '../cli/schemas.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const registryUrl = inject('stack').registryUrl;
const namespaces: string[] = [];
const freshConfig = () => {
  const namespace = `ts${randomBytes(4).toString('hex')}.`;
  namespaces.push(namespace);
  return { namespace, registryUrl };
};

/** A copy of the catalog with `change` applied to one event's (self-contained) schema. */
function changed(catalog: Catalog, name: string, change: (schema: AvroRecord) => AvroRecord): Catalog {
  return new Catalog([...catalog.byName.values()].map((e): CatalogEntry => (e.name === name ? { ...e, schema: change(structuredClone(e.schema)) } : e)));
}
const addField = (field: AvroRecord['fields'][number]) => (s: AvroRecord) => ({ ...s, fields: [...s.fields, field] });
const retype = (field: string, type: unknown) => (s: AvroRecord) => ({ ...s, fields: s.fields.map((f) => (f.name === field ? { ...f, type } : f)) });

function dbbSchemasCheck(namespace: string) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'cli', 'dbb.ts'), 'schemas', 'check'], {
    cwd: ROOT, encoding: 'utf8', timeout: 120_000,
    env: { ...process.env, DBB_NAMESPACE: namespace, SCHEMA_REGISTRY_URL: registryUrl, LOG_LEVEL: 'warn' },
  });
  return { code: r.status, out: `${r.stdout}\n${r.stderr}` };
}

afterAll(async () => {
  // soft, then permanent delete of every subject this file registered (best effort: a busy registry may drop a connection)
  const subjects = await fetch(`${registryUrl}/subjects`).then((r) => r.json() as Promise<string[]>)
    .catch(() => fetch(`${registryUrl}/subjects`).then((r) => r.json() as Promise<string[]>))
    .then((all) => all.filter((s) => namespaces.some((n) => s.startsWith(n))), () => [] as string[]);
  for (const s of subjects) {
    await fetch(`${registryUrl}/subjects/${encodeURIComponent(s)}`, { method: 'DELETE' }).then((r) => r.arrayBuffer()).catch(() => {});
    await fetch(`${registryUrl}/subjects/${encodeURIComponent(s)}?permanent=true`, { method: 'DELETE' }).then((r) => r.arrayBuffer()).catch(() => {});
  }
});

describe('schemas check against the registry', () => {
  const catalog = loadCatalog();
  const sample = catalog.get('SampleRecorded');
  const staging = catalog.get('StagingRequested');

  it('passes a fresh namespace, then the registered catalog; reports incompatible changes; passes a compatible one', async () => {
    const config = freshConfig();
    const lines: string[] = [];
    expect(await checkSchemas(config, (m) => lines.push(m), catalog)).toEqual([]);
    expect(lines.filter((l) => l.startsWith('new '))).toHaveLength(catalog.byName.size);

    await new Serde(catalog, config).registerAll();
    expect(await checkSchemas(config, () => {}, catalog)).toEqual([]);

    // a new required field without a default: the new schema cannot read the registered data
    const required = changed(catalog, 'SampleRecorded', addField({ name: 'unit', type: 'string' }));
    // and a changed field type on another event
    const retyped = changed(required, 'StagingRequested', retype('requestId', 'int'));
    const problems = await checkSchemas(config, () => {}, retyped);
    expect(problems).toHaveLength(2);
    expect(problems.find((p) => p.startsWith(`${subjectOf(config, sample)} (version 1)`))).toBeDefined();
    expect(problems.find((p) => p.startsWith(`${subjectOf(config, staging)} (version 1)`))).toBeDefined();
    expect(problems.join('\n')).toContain(sample.file);

    // a new optional field with a default is compatible, and the registry accepts it as version 2
    const optional = changed(catalog, 'SampleRecorded', addField({ name: 'note', type: ['null', 'string'], default: null }));
    expect(await checkSchemas(config, () => {}, optional)).toEqual([]);
    await new Serde(optional, config).registerAll();
    const versions = await (await fetch(`${registryUrl}/subjects/${encodeURIComponent(subjectOf(config, sample))}/versions`)).json();
    expect(versions).toEqual([1, 2]);
    // checked against every version (transitive): the required field is still incompatible with both
    const again = await checkSchemas(config, () => {}, required);
    expect(again.map((p) => p.slice(0, p.indexOf(':')))).toEqual([`${subjectOf(config, sample)} (version 1)`, `${subjectOf(config, sample)} (version 2)`]);
  }, 300_000);

  it('`dbb schemas check` exits 0 on the registered catalog and non-zero when the registry holds a schema the catalog cannot read', async () => {
    const ok = freshConfig();
    await new Serde(catalog, ok).registerAll();
    const pass = dbbSchemasCheck(ok.namespace);
    expect(pass.code, pass.out).toBe(0);
    expect(pass.out).not.toContain('INCOMPATIBLE');

    // the registry already has SampleRecorded with value: string (another branch, say): the repo's
    // value: long cannot read that data, so the repo's catalog is the incompatible change
    const other = freshConfig();
    await new Serde(changed(catalog, 'SampleRecorded', retype('value', 'string')), other).registerAll();
    const fail = dbbSchemasCheck(other.namespace);
    expect(fail.code, fail.out).not.toBe(0);
    expect(fail.out).toContain(`INCOMPATIBLE ${subjectOf(other, sample)} (version 1)`);
    expect(fail.out.match(/INCOMPATIBLE/g)).toHaveLength(1);
  }, 300_000);
});

describe('schemas:gen --check', () => {
  it('fails when a generated file is stale or missing, passes when regenerated', () => {
    // schemas/generate.ts reads ../platform/catalog.ts's SCHEMAS_DIR: a copy of both is a private repo
    const tmp = mkdtempSync(join(tmpdir(), 'dbb-schemas-gen-'));
    try {
      mkdirSync(join(tmp, 'platform'));
      cpSync(join(ROOT, 'platform', 'catalog.ts'), join(tmp, 'platform', 'catalog.ts'));
      cpSync(join(ROOT, 'schemas'), join(tmp, 'schemas'), { recursive: true });
      const gen = (...args: string[]) => {
        const r = spawnSync(process.execPath, ['--import', 'tsx', join(tmp, 'schemas', 'generate.ts'), ...args], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
        return { code: r.status, out: `${r.stdout}\n${r.stderr}` };
      };
      expect(gen().code).toBe(0); // whatever state the work tree's generated files are in, the copy is now fresh
      const fresh = gen('--check');
      expect(fresh.code, fresh.out).toBe(0);

      const avsc = join(tmp, 'schemas', 'example', 'SampleRecorded.avsc');
      const schema = JSON.parse(readFileSync(avsc, 'utf8'));
      schema.fields.push({ name: 'note', type: ['null', 'string'], default: null });
      writeFileSync(avsc, JSON.stringify(schema, null, 2));
      const stale = gen('--check');
      expect(stale.code).not.toBe(0);
      expect(stale.out).toMatch(/schemas\/generated is stale \(.*example\.ts.*\)/);

      expect(gen().code).toBe(0);
      expect(gen('--check').code).toBe(0);
      expect(readFileSync(join(tmp, 'schemas', 'generated', 'example.ts'), 'utf8')).toContain('note: null | string;');

      rmSync(join(tmp, 'schemas', 'generated', 'example.ts'));
      const missing = gen('--check');
      expect(missing.code).not.toBe(0);
      expect(missing.out).toContain('example.ts');
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  }, 300_000);
});

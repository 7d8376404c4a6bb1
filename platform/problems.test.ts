import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CORE_KEYS } from './config.ts';
import { OPS_KEYS } from './ops-server.ts';
import { isProblemCode, PROBLEMS, renderProblemsDoc, STAGING_PROBLEMS, stagingProblem, type ProblemCode } from './problems.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SKIP_DIRS = new Set(['node_modules', '.git', '.dbb', 'dist', 'generated', 'coverage']);
const CATALOG_FILE = 'platform/problems.ts';

function sources(dir = ROOT): { path: string; text: string }[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    if (e.isDirectory()) return SKIP_DIRS.has(e.name) || e.name.startsWith('.') ? [] : sources(join(dir, e.name));
    return /\.(ts|tsx|js|mjs)$/.test(e.name) ? [{ path: relative(ROOT, join(dir, e.name)), text: readFileSync(join(dir, e.name), 'utf8') }] : [];
  });
}

const all = sources().filter((f) => f.path !== CATALOG_FILE);
const isTest = (path: string) => /\.test\.ts$|^test\//.test(path);
const envKeys = new Set([...Object.values(CORE_KEYS), ...Object.values(OPS_KEYS)].map((k) => k.env));
const matches = (re: RegExp, text: string) => [...text.matchAll(re)].map((m) => m[1]!);
const where = (re: RegExp) => all.flatMap((f) => matches(re, f.text).map((code) => ({ code, path: f.path })));

describe('problem catalog', () => {
  it('holds every DBB_ code the code base throws, answers or expects', () => {
    // a literal ending in _ is a prefix some code must have ('DBB_STAGING_' stripped in a test)
    const known = (code: string) => (code.endsWith('_') ? Object.keys(PROBLEMS).some((c) => c.startsWith(code)) : isProblemCode(code) || envKeys.has(code));
    const unknown = where(/['"`](DBB_[A-Z0-9_]+)['"`]/g).filter(({ code }) => !known(code));
    expect(unknown.map(({ code, path }) => `${path}: ${code}`)).toEqual([]);
  });

  it('has no code built at runtime outside an explicit table (no `DBB_..${x}` templates; tests may build expectations)', () => {
    const built = where(/`(DBB_[A-Z0-9_]*)\$\{/g).filter(({ path }) => !isTest(path));
    expect(built.map(({ code, path }) => `${path}: ${code}\${...}`)).toEqual([]);
  });

  it('has no dead codes: each entry is used outside tests (staging refusals through STAGING_PROBLEMS)', () => {
    // the catalog module's own functions count (stagingProblem's fallback), its tables do not
    const catalog = readFileSync(join(ROOT, CATALOG_FILE), 'utf8');
    const code = [...all.filter((f) => !isTest(f.path)).map((f) => f.text), catalog.slice(catalog.indexOf('export const stagingProblem'))].join('\n');
    const viaStaging = new Set<ProblemCode>(Object.entries(STAGING_PROBLEMS)
      .filter(([refusal]) => new RegExp(`['"]${refusal}['"]`).test(code)).map(([, c]) => c));
    const dead = (Object.keys(PROBLEMS) as ProblemCode[]).filter((c) => !viaStaging.has(c) && !new RegExp(`['"\`]${c}['"\`]`).test(code));
    expect(dead).toEqual([]);
  });

  it('maps every staging refusal code the sources raise', () => {
    const raised = where(/(?:new StagingRefusal\(|ok: false, code: |failed\(v, )'([A-Z_]+)'/g).filter(({ path }) => !isTest(path));
    expect(raised.length).toBeGreaterThan(10);
    expect(raised.filter(({ code }) => stagingProblem(code) === 'DBB_STAGING_FAILED').map(({ code, path }) => `${path}: ${code}`)).toEqual([]);
  });

  it('spells codes DBB_<DOMAIN>_<WHAT>; only the older gateway-wide codes have one word (kept: clients match them)', () => {
    const oneWord = Object.keys(PROBLEMS).filter((c) => !/^DBB_[A-Z0-9]+(_[A-Z0-9]+)+$/.test(c));
    expect(oneWord).toEqual(['DBB_TRANSIENT', 'DBB_VALIDATION', 'DBB_INTERNAL', 'DBB_UNAVAILABLE']);
    for (const code of Object.keys(PROBLEMS)) expect(code).toMatch(/^DBB_[A-Z0-9]+(_[A-Z0-9]+)*$/);
  });

  it('docs/problems.md is generated from the catalog', async () => {
    await expect(renderProblemsDoc()).toMatchFileSnapshot('../docs/problems.md');
  });
});

// The dependency rule of docs/developing.md, checked on every relative import of the server code:
//   platform, schemas ← domains ← processors, projections ← producers, gateway, sim ← cli, infra, bench, test
// Processors and projections never import each other, routes never import processors, and platform
// imports no domain and no gateway. Unit tests beside a module may import fixtures and simulators.
// `npm run check` (and so `npm test`) fails on a forbidden import and names the file and line.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** Layer of each top-level folder; a file may import its own folder and any lower layer. */
export const LAYERS: Record<string, number> = {
  platform: 0, schemas: 0,
  domains: 1,
  processors: 2, projections: 2,
  producers: 3, gateway: 3, sim: 3,
  cli: 4, infra: 4, bench: 4, test: 4,
};
/** Folders that must not import each other although the layers would allow it: processors and
 *  projections are independent, and routes append and read, they never run processor code. */
const APART = [['processors', 'projections'], ['producers', 'gateway'], ['gateway', 'processors']];

export interface Violation { file: string; line: number; target: string; why: string }

const IMPORT = /(?:^|\s)(?:import|export)\s[^'"`]*?from\s+['"](\.[^'"]+)['"]|import\(\s*['"](\.[^'"]+)['"]\s*\)/g;

function* sourceFiles(dir: string): Generator<string> {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name.startsWith('.') || name === 'generated' && dir.endsWith('schemas')) continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) yield* sourceFiles(path);
    else if (/\.tsx?$/.test(name)) yield path;
  }
}

export function checkImports(root = ROOT): Violation[] {
  const out: Violation[] = [];
  for (const top of Object.keys(LAYERS)) {
    let files: string[];
    try { files = [...sourceFiles(join(root, top))]; } catch { continue; }
    for (const file of files) {
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(IMPORT)) {
        const spec = m[1] ?? m[2]!;
        const target = relative(root, resolve(dirname(file), spec));
        const to = target.split('/')[0]!;
        // a unit test beside its module is a composition root of its own (fixtures, simulators)
        const why = file.endsWith('.test.ts') ? null : forbidden(top, to);
        // the match may start with the whitespace (a newline) before `import`: count lines up to the keyword
        const at = m.index + m[0].length - m[0].trimStart().length;
        if (why) out.push({ file: relative(root, file), line: text.slice(0, at).split('\n').length, target, why });
      }
    }
  }
  return out;
}

function forbidden(from: string, to: string): string | null {
  if (from === to || !(to in LAYERS)) return null;
  if (LAYERS[to]! > LAYERS[from]!) return `${from}/ may not import ${to}/ (a higher layer)`;
  if (APART.some(([a, b]) => (from === a && to === b) || (from === b && to === a))) return `${from}/ and ${to}/ never import each other`;
  return null;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const found = checkImports();
  for (const v of found) console.error(`${v.file}:${v.line} imports ${v.target}: ${v.why}`);
  if (found.length) {
    console.error(`\n${found.length} import(s) break the dependency rule (docs/developing.md, "Layout")`);
    process.exit(1);
  }
  console.log('imports follow the dependency rule');
}

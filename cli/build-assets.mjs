// `npm run build`, after tsc: copies what the compiled code reads next to itself (schemas/*.avsc, SQL
// migrations, pom files, the SODA worker, the web console) into dist/, mirroring the source tree.
import { cpSync, existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const DIST = join(ROOT, 'dist');
const DIRS = ['platform', 'domains', 'gateway', 'processors', 'projections', 'producers', 'schemas', 'cli', 'infra', 'sim'];
const skip = (p) => /\.(ts|mts|cts)$/.test(p) || /(^|\/)(node_modules|__pycache__|generated)(\/|$)/.test(p);

for (const dir of DIRS) {
  cpSync(join(ROOT, dir), join(DIST, dir), { recursive: true, filter: (src) => !skip(src.slice(ROOT.length)) });
}
const web = join(ROOT, 'web', 'dist');
if (existsSync(web)) {
  rmSync(join(DIST, 'web', 'dist'), { recursive: true, force: true });
  cpSync(web, join(DIST, 'web', 'dist'), { recursive: true });
}
console.log('copied schemas, migrations and assets to dist/');

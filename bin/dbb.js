#!/usr/bin/env node
// The `dbb` command (package.json "bin"): runs the compiled CLI from dist/ when `npm run build` made it
// (production, the Docker image, the systemd units), else the TypeScript sources through tsx (a dev
// checkout after `npm ci`, or a checkout whose sources changed since the build). DBB_FROM_SOURCE=1
// forces the sources.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const built = join(root, 'dist', 'cli', 'dbb.js');

/** In a checkout a build goes stale as soon as a source changes: then the sources run (a few ms to see). */
function sourcesNewerThan(file) {
  const since = statSync(file).mtimeMs;
  const walk = (dir) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.name === 'node_modules' || e.name.startsWith('.')) continue;
      const p = join(dir, e.name);
      if (e.isDirectory() ? walk(p) : e.name.endsWith('.ts') && statSync(p).mtimeMs > since) return true;
    }
    return false;
  };
  return ['cli', 'platform', 'domains', 'processors', 'projections', 'producers', 'gateway', 'infra', 'schemas', 'sim']
    .some((d) => existsSync(join(root, d)) && walk(join(root, d)));
}

if (existsSync(built) && process.env.DBB_FROM_SOURCE !== '1' && !sourcesNewerThan(built)) {
  await import(pathToFileURL(built).href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import(pathToFileURL(join(root, 'cli', 'dbb.ts')).href);
}

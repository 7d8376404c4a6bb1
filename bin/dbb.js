#!/usr/bin/env node
// The `dbb` command (package.json "bin"): runs the compiled CLI from dist/ when `npm run build` made it
// (production, the Docker image, the systemd units), else the TypeScript sources through tsx (a dev
// checkout after `npm ci`). DBB_FROM_SOURCE=1 forces the sources in a checkout that also has a build.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const built = join(root, 'dist', 'cli', 'dbb.js');
if (existsSync(built) && process.env.DBB_FROM_SOURCE !== '1') {
  await import(pathToFileURL(built).href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import(pathToFileURL(join(root, 'cli', 'dbb.ts')).href);
}

// Vite build of the web console: web/ → web/dist, served by the gateway at `/` (gateway/routes/console.ts).
// JSX/TSX goes through Vite 8's built-in Oxc transform (React automatic runtime); no React plugin needed.
import { defineConfig } from 'vite';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('.', import.meta.url));

export default defineConfig({
  root,
  base: '/',
  oxc: { jsx: { runtime: 'automatic' } },
  build: { outDir: 'dist', emptyOutDir: true, sourcemap: false, chunkSizeWarningLimit: 1024 },
  logLevel: 'warn',
});

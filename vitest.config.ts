import { defineConfig } from 'vitest/config';

const unitGlobs = ['platform/**/*.test.ts', 'domains/**/*.test.ts', 'infra/**/*.test.ts', 'processors/**/*.test.ts', 'projections/**/*.test.ts', 'producers/**/*.test.ts', 'gateway/**/*.test.ts', 'sim/**/*.test.ts', 'cli/**/*.test.ts', 'schemas/**/*.test.ts'];

export default defineConfig({
  test: {
    projects: [
      { test: { name: 'unit', include: unitGlobs, environment: 'node', sequence: { groupOrder: 0 } } },
      {
        test: {
          name: 'integration',
          sequence: { groupOrder: 1 },
          include: ['test/**/*.test.ts'],
          environment: 'node',
          globalSetup: ['test/support/global-setup.ts'],
          pool: 'forks',
          maxWorkers: 3,
          testTimeout: 120_000,
          hookTimeout: 180_000,
        },
      },
    ],
  },
});

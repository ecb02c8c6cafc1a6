import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'keystores/**/*.test.ts', 'test/**/*.test.ts'],
    setupFiles: ['test/setup-fast-check.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Two cores on CI machines: more forks only add contention.
    pool: 'forks',
    maxWorkers: 2,
  },
});

import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    reporters: ['default', './test/reporters/summary.ts'],
    testTimeout: 120_000,
    hookTimeout: 180_000,
    // Suites start real servers (registry, Swift, moto, podman): keep the 2-core CI machine from thrashing.
    maxWorkers: 2,
    fileParallelism: true,
  },
});

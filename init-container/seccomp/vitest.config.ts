import { defineConfig } from 'vitest/config';

// Only for gen-seccomp.sh: runs the trace workload, never part of `npm test`.
export default defineConfig({
  test: {
    root: new URL('../..', import.meta.url).pathname,
    include: ['init-container/seccomp/trace.workload.ts'],
    testTimeout: 600_000,
    hookTimeout: 300_000,
  },
});

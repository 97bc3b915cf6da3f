import { defineConfig } from "vitest/config";

// The fault suite (issue 9): real service processes, their own database and redis-servers,
// faults injected into them. Separate from `npm test`; run with `npm run test:faults`.
export default defineConfig({
  test: {
    include: ["test/faults/**/*.test.ts"],
    globalSetup: ["test/faults/support/global-setup.ts"],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: "forks",
    // Each file runs one or two service processes plus load: on two shared cores, one file at a
    // time keeps the timings meaningful.
    maxWorkers: 1,
    fileParallelism: false,
  },
});

// `npm run test:e2e`: the browser suite (test/e2e) — the example page built once with Vite, the
// real service on the run's PostgreSQL database and Redis (test/support/global-setup.ts), driven
// in headless Chromium by playwright-core. Separate from `npm test`, whose scope is unchanged.
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/e2e/**/*.test.ts"],
    globalSetup: ["test/support/global-setup.ts", "test/e2e/build-page.ts"],
    testTimeout: 90_000,
    hookTimeout: 120_000,
    pool: "forks",
    // One browser at a time on two shared cores.
    fileParallelism: false,
  },
});

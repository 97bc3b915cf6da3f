// Once per `npm run test:faults`: the suite's own PostgreSQL database (created, migrated, dropped
// after the run, by the shared setup of test/support/global-setup.ts), a directory where each
// case records its measured figures, and at the end test/faults/results/latest.json plus
// docs/reliability.md regenerated from it (scripts/reliability-report.ts).
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestProject } from "vitest/node";
import sharedSetup from "../../support/global-setup.js";
import { writeLatest, type CaseFigures } from "../../../scripts/reliability-report.js";

declare module "vitest" {
  export interface ProvidedContext {
    /** Where each fault case writes its figures (one JSON file per case). */
    faultsResultsDir: string;
  }
}

export default async function setup(project: TestProject) {
  const startedAt = Date.now();
  // The fault cases kill and terminate real servers: they never run on the embedded PGlite.
  process.env.CUSTOMERMS_TEST_REQUIRE_SERVICES = "1";
  const teardownShared = await sharedSetup(project);
  const dir = await mkdtemp(join(tmpdir(), "cms-faults-results-"));
  project.provide("faultsResultsDir", dir);
  return async () => {
    try {
      const cases: CaseFigures[] = [];
      for (const f of (await readdir(dir)).sort()) {
        if (f.endsWith(".json")) cases.push(JSON.parse(await readFile(join(dir, f), "utf8")) as CaseFigures);
      }
      // Only a run that recorded something replaces the committed figures (a run of one file
      // merges into them: see writeLatest).
      if (cases.length > 0) await writeLatest(cases, { durationMs: Date.now() - startedAt });
    } finally {
      await rm(dir, { recursive: true, force: true });
      await teardownShared?.();
    }
  };
}

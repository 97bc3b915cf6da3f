// Once per `npm run test:faults`: the suite's own PostgreSQL database (created, migrated, dropped
// after the run, by the shared setup of test/support/global-setup.ts), a directory where each
// case records its measured figures, and at the end test/faults/results/latest.json plus
// docs/reliability.md regenerated from it (scripts/reliability-report.ts).
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
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
  // The fault cases kill and terminate real servers: they never run on the embedded PGlite. (They
  // start their own redis-servers, so the shared Redis on 6379 is not needed.)
  const serverUrl = process.env.DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/postgres";
  const probe = new pg.Client({ connectionString: serverUrl, connectionTimeoutMillis: 2_000 });
  try {
    await probe.connect();
    await probe.query("select 1");
  } catch {
    throw new Error(`the fault suite needs a PostgreSQL server: none answers at ${serverUrl.replace(/\/\/[^@]*@/, "//")}`);
  } finally {
    await probe.end().catch(() => undefined);
  }
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

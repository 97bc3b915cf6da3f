// Each fault case records what it measured (counts, recovery times) here; the global setup's
// teardown gathers them into test/faults/results/latest.json and regenerates docs/reliability.md.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { inject } from "vitest";
import type { CaseFigures } from "../../../scripts/reliability-report.js";

export type Figures = Record<string, number | string | boolean>;

/** Records a case's figures (call it once the assertions passed: only proven figures land in
 * the report). */
export function record(c: Omit<CaseFigures, "recordedAt">): void {
  const file = join(inject("faultsResultsDir"), `${c.id}.json`);
  writeFileSync(file, JSON.stringify({ ...c, recordedAt: new Date().toISOString() }, null, 2));
}

/** Milliseconds since t0 (performance.now()), rounded to 0.1 ms. */
export function since(t0: number): number {
  return Math.round((performance.now() - t0) * 10) / 10;
}

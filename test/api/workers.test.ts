// CUSTOMERMS_WORKERS=2: one primary and two workers on one port, as `npm start` runs them. Every
// connection is served, by more than one process; SIGTERM drains all and the primary exits 0.
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { afterAll, describe, expect, inject, it } from "vitest";
import { cleanEnv, spawnService, startCommand, stop, waitListening, type Child } from "../support/process.js";
import { TEST_MASTER_KEY } from "../support/app.js";

const admin = `test-admin-${randomBytes(24).toString("hex")}`;
let child: Child | undefined;
afterAll(async () => {
  if (child) await stop(child);
});

/** The service processes among a process's children (from /proc; under tsx there would also be an esbuild child). */
function workersOf(pid: number): number[] {
  const out = execFileSync("sh", ["-c", `cat /proc/${pid}/task/*/children 2>/dev/null || true`]).toString();
  return out
    .split(/\s+/)
    .filter(Boolean)
    .map(Number)
    .filter((child) => readFileSync(`/proc/${child}/cmdline`, "utf8").includes("src/main."));
}

describe("CUSTOMERMS_WORKERS", () => {
  it("serves one port from two workers and drains them all on SIGTERM (exit 0)", async () => {
    const [command, ...args] = startCommand();
    child = spawnService(
      command!,
      args,
      cleanEnv({
        NODE_ENV: "test",
        PORT: "0",
        HOST: "127.0.0.1",
        CUSTOMERMS_WORKERS: "2",
        DATABASE_URL: inject("serviceDatabaseUrl"),
        DATABASE_MIGRATION_URL: inject("databaseUrl"),
        // The run's database is migrated (global setup); the primary's migration step is the
        // same migrateDatabase() that `npm run migrate` and the tests' setup use.
        CUSTOMERMS_MIGRATE_ON_START: "false",
        REDIS_URL: inject("redisUrl") || "redis://127.0.0.1:6379",
        CUSTOMERMS_ADMIN_TOKEN: admin,
        CUSTOMERMS_MASTER_KEY: TEST_MASTER_KEY,
        CUSTOMERMS_SECRET: "s".repeat(40),
        LOG_LEVEL: "info",
      }),
    );
    const port = await waitListening(child);
    // Both workers announce themselves before either is sure to get connections.
    const listening = () => child!.stdout().split("\n").filter((l) => l.includes('"msg":"customerms listening"')).length;
    for (const deadline = Date.now() + 30_000; listening() < 2 && Date.now() < deadline; ) await new Promise((r) => setTimeout(r, 50));
    expect(listening()).toBe(2);
    const workers = workersOf(child.proc.pid!);
    expect(workers).toHaveLength(2);

    // New connections are spread over the workers: the RPC log lines name both process ids.
    for (let i = 0; i < 20; i++) {
      const res = await fetch(`http://127.0.0.1:${port}/finhub.tenant.v1.TenantService/ListTenants`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${admin}`, connection: "close" },
        body: "{}",
      });
      expect(res.status).toBe(200);
    }
    const servedBy = new Set(
      child
        .stdout()
        .split("\n")
        .filter((l) => l.includes('"msg":"rpc"'))
        .map((l) => (JSON.parse(l) as { pid: number }).pid),
    );
    expect([...servedBy].sort()).toEqual([...workers].sort());

    const code = await stop(child);
    child = undefined;
    expect(code).toBe(0);
    for (const pid of workers) expect(() => process.kill(pid, 0)).toThrow();
  });

  it("is refused without DATABASE_URL and REDIS_URL (the embedded modes are one process only)", async () => {
    const [command, ...args] = startCommand();
    const c = spawnService(command!, args, cleanEnv({ CUSTOMERMS_WORKERS: "2", PORT: "0" }));
    expect(await c.exited).toBe(1);
    expect(c.stderr()).toContain("CUSTOMERMS_WORKERS > 1 requires DATABASE_URL and REDIS_URL");
  });
});

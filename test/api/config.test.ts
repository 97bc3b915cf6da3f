// Configuration errors are one clear line and exit code 1, never a stack trace; production
// refuses the development defaults.
import { describe, expect, it } from "vitest";
import { cleanEnv, spawnService, startCommand } from "../support/process.js";

async function run(env: Record<string, string>) {
  const [command, ...args] = startCommand();
  const child = spawnService(command!, args, cleanEnv(env));
  const code = await child.exited;
  return { code, stderr: child.stderr(), stdout: child.stdout() };
}

describe("invalid configuration", () => {
  it("PORT=abc: one line on stderr and exit code 1", async () => {
    const r = await run({ PORT: "abc" });
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(/^customerms: invalid configuration: PORT: must be a whole number/);
    expect(r.stderr).not.toMatch(/\bat .*\.[jt]s:\d+/);
  });

  it("NODE_ENV=production without DATABASE_URL and admin token refuses to start", async () => {
    const r = await run({ NODE_ENV: "production" });
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toContain("NODE_ENV=production requires DATABASE_URL, CUSTOMERMS_ADMIN_TOKEN, CUSTOMERMS_MASTER_KEY, REDIS_URL, CUSTOMERMS_SECRET and CUSTOMERMS_NOTIFIER");
  });
});

// Once per `npm test` run: choose the database the API tests use and create it.
// - PostgreSQL answers (DATABASE_URL, default postgresql://postgres@127.0.0.1:5432/postgres):
//   a fresh database cms_test_<random> is created, migrated, and dropped at the end.
// - It does not answer: with CUSTOMERMS_TEST_REQUIRE_SERVICES=1 (CI) that is a failure;
//   otherwise one embedded PGlite (the service's own embedded mode) serves the run.
// Tests read the chosen URL with inject("databaseUrl"). Each test gets its own tenant.
// It also builds dist/ (scripts/build.ts) once: tests that start the service as a process run
// the `start` script's command line, i.e. the compiled JavaScript, as production does.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import pg from "pg";
import { Redis } from "ioredis";
import type { TestProject } from "vitest/node";
import { build } from "../../scripts/build.js";
import { startEmbeddedPostgres } from "../../src/db/embedded.js";
import { migrateUp, openOrm } from "../../src/db/orm.js";
import { asRole, ensureServiceRole } from "./service-role.js";

declare module "vitest" {
  export interface ProvidedContext {
    /** The schema owner's URL (migrations; tests' own inspection queries see every tenant). */
    databaseUrl: string;
    /** What test servers connect with: a login role that is only a member of customerms_app, as
     * in production (on the embedded PGlite, which has no logins, the owner's URL). */
    serviceDatabaseUrl: string;
    databaseKind: "postgresql" | "embedded";
    /** A URL of the same server with rights to create databases (for tests that need their own). */
    adminDatabaseUrl: string;
    /** The Redis the run uses, or "" for the in-memory twins (no server answered). */
    redisUrl: string;
  }
}

async function answers(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2_000 });
  try {
    await client.connect();
    await client.query("select 1");
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function redisAnswers(url: string): Promise<boolean> {
  const client = new Redis(url, { lazyConnect: true, connectTimeout: 1_000, maxRetriesPerRequest: 0, retryStrategy: () => null });
  client.on("error", () => undefined); // the rejected connect() says it; no "Unhandled error event" on the console
  try {
    await client.connect();
    return (await client.ping()) === "PONG";
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}

/** The test servers' login role: LOGIN, member of customerms_app, nothing else. */
export const SERVICE_ROLE = "customerms_test_service";

export default async function setup(project: TestProject) {
  const built = await build();
  console.log(`[customerms tests] built dist/ in ${built.ms} ms (${built.written} files written)`);
  // The environment is read here, in the test harness, not by the service (src/config.ts is
  // the service's only reader).
  const serverUrl = process.env.DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/postgres";
  const required = process.env.CUSTOMERMS_TEST_REQUIRE_SERVICES === "1";
  const cleanups: Array<() => Promise<void>> = [];
  let url: string;
  let kind: "postgresql" | "embedded";
  let adminUrl: string;

  if (await answers(serverUrl)) {
    const name = `cms_test_${randomBytes(6).toString("hex")}`;
    const admin = new pg.Client({ connectionString: serverUrl });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${name}`);
    await admin.end();
    const u = new URL(serverUrl);
    u.pathname = `/${name}`;
    url = u.toString();
    adminUrl = serverUrl;
    kind = "postgresql";
    cleanups.push(async () => {
      const c = new pg.Client({ connectionString: serverUrl });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    });
    console.log(`[customerms tests] PostgreSQL server ${u.host}, database ${name} (dropped after the run)`);
  } else if (required) {
    throw new Error(
      `CUSTOMERMS_TEST_REQUIRE_SERVICES=1 but PostgreSQL does not answer at ${serverUrl.replace(/\/\/[^@]*@/, "//")}`,
    );
  } else {
    const dir = await mkdtemp(join(tmpdir(), "cms-test-pglite-"));
    // Every test file's server keeps a pool and a listener, and some tests start service
    // processes: pglite-socket resets connections beyond its limit (ECONNRESET, "Connection
    // terminated unexpectedly"), which was 58 of the 96 failures on PGlite with a limit of 20.
    const embedded = await startEmbeddedPostgres(dir, 200);
    url = embedded.url;
    adminUrl = embedded.url;
    kind = "embedded";
    cleanups.push(async () => {
      await embedded.close();
      await rm(dir, { recursive: true, force: true });
    });
    console.log("[customerms tests] no PostgreSQL server answers: running on the embedded PGlite (one connection at a time)");
  }

  const redisUrl = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
  let redis = "";
  if (await redisAnswers(redisUrl)) {
    redis = redisUrl;
    console.log(`[customerms tests] Redis ${new URL(redisUrl).host}`);
  } else if (required) {
    throw new Error(`CUSTOMERMS_TEST_REQUIRE_SERVICES=1 but Redis does not answer at ${redisUrl}`);
  } else {
    console.log("[customerms tests] no Redis answers: verification runs on the in-memory twins");
  }
  project.provide("redisUrl", redis);

  const orm = await openOrm(url, 2);
  try {
    await migrateUp(orm);
  } finally {
    await orm.close(true);
  }
  let serviceUrl = url;
  if (kind === "postgresql") {
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try {
      await ensureServiceRole(c, SERVICE_ROLE);
    } finally {
      await c.end();
    }
    serviceUrl = asRole(url, SERVICE_ROLE);
  }
  project.provide("databaseUrl", url);
  project.provide("serviceDatabaseUrl", serviceUrl);
  project.provide("databaseKind", kind);
  project.provide("adminDatabaseUrl", adminUrl);

  return async () => {
    for (const c of cleanups.reverse()) await c();
  };
}

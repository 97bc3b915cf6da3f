// A real server per test file: buildApp on port 0 against the run's database (see
// global-setup.ts), plus helpers to make a tenant and count rows straight from the database.
import { randomBytes, randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { inject } from "vitest";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { buildApp, type App } from "../../src/app.js";
import { loadConfig } from "../../src/config.js";
import { createLogger } from "../../src/observability/logger.js";
import { TenantService } from "../../gen/finhub/tenant/v1/tenant_service_pb.js";

/** One fixed key for every test server, so servers sharing the run's database agree. */
export const TEST_MASTER_KEY = Buffer.alloc(32, 0x5a).toString("base64");

export interface TestServer {
  readonly app: App;
  readonly port: number;
  /** http://127.0.0.1:<port> */
  readonly baseUrl: string;
  readonly adminToken: string;
  /** The schema owner's URL, for the tests' own queries (they see every tenant's rows). */
  readonly databaseUrl: string;
  close(): Promise<void>;
}

/** Starts the service; `env` overrides the configuration (same names as the real environment);
 * `logTo` receives the JSON log lines (otherwise LOG_LEVEL defaults to silent). */
export async function startServer(
  env: Record<string, string> = {},
  logTo?: { write(line: string): void },
  clock?: () => Date,
): Promise<TestServer> {
  const adminToken = `test-admin-${randomBytes(24).toString("hex")}`;
  const dataDir = await mkdtemp(join(tmpdir(), "cms-test-data-"));
  const databaseUrl = inject("databaseUrl");
  const config = loadConfig({
    NODE_ENV: "test",
    PORT: "0",
    HOST: "127.0.0.1",
    DATABASE_URL: inject("serviceDatabaseUrl"),
    DATABASE_MIGRATION_URL: databaseUrl,
    DATABASE_POOL_MAX: "4",
    CUSTOMERMS_DATA_DIR: dataDir,
    CUSTOMERMS_ADMIN_TOKEN: adminToken,
    CUSTOMERMS_MASTER_KEY: TEST_MASTER_KEY,
    CUSTOMERMS_MIGRATE_ON_START: "false",
    CUSTOMERMS_SHUTDOWN_GRACE_MS: "2000",
    // Every test server sees every file's deliberate auth failures from 127.0.0.1 (one Redis
    // counter per address): only the brute-force tests set a small limit.
    CUSTOMERMS_AUTH_FAILURES_PER_MINUTE: "100000",
    LOG_LEVEL: "silent",
    ...(inject("redisUrl") ? { REDIS_URL: inject("redisUrl") } : {}),
    ...env,
  });
  const app = await buildApp(config, { logger: createLogger(config.logLevel, logTo), ...(clock ? { clock } : {}) });
  const port = await app.listen();
  return {
    app,
    port,
    baseUrl: `http://127.0.0.1:${port}`,
    adminToken,
    databaseUrl,
    async close() {
      await app.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

export interface TestTenant {
  readonly id: string;
  readonly apiKey: string;
  readonly apiKeyId: string;
}

/** A fresh tenant with its first API key, created through TenantService over Connect. */
export async function createTenant(server: TestServer, displayName = `tenant ${randomUUID()}`): Promise<TestTenant> {
  const client = createClient(
    TenantService,
    createConnectTransport({ baseUrl: server.baseUrl, httpVersion: "1.1" }),
  );
  const res = await client.createTenant(
    { tenant: { displayName } },
    { headers: { authorization: `Bearer ${server.adminToken}` } },
  );
  return { id: res.tenant!.id, apiKey: res.apiKey, apiKeyId: res.key!.id };
}

/** Runs one query on the test database directly (to check what was, or was not, written). */
export async function sql<R extends pg.QueryResultRow = pg.QueryResultRow>(
  databaseUrl: string,
  text: string,
  values: unknown[] = [],
): Promise<R[]> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    // As the login (owner) role even on the embedded PGlite, whose one shared session the
    // service has dropped to customerms_app: `set local role none` lasts this transaction only.
    await client.query("begin");
    await client.query("set local role none");
    const rows = (await client.query<R>(text, values)).rows;
    await client.query("commit");
    return rows;
  } finally {
    await client.end();
  }
}

/**
 * Runs `change` (an SQL write, as the owner) in a transaction of the test's own and keeps it open
 * while `call` starts, until a backend of the database waits on that transaction's locks (`call`,
 * blocked by the change), then commits it. Returns `call`'s outcome: how a call behaves when a
 * row it read changes under it. Waits at most 10 s for the blocked backend (then fails).
 */
export async function whileChangeCommits<T>(
  server: TestServer,
  change: { text: string; values: unknown[] },
  call: () => Promise<T>,
): Promise<{ res: T; err: undefined } | { res: undefined; err: unknown }> {
  const holder = new pg.Client({ connectionString: server.databaseUrl });
  await holder.connect();
  try {
    await holder.query("begin");
    await holder.query("set local role none");
    const { rows } = await holder.query<{ pid: number }>("select pg_backend_pid() as pid");
    await holder.query(change.text, change.values);
    const outcome = call().then(
      (res) => ({ res, err: undefined }),
      (err: unknown) => ({ res: undefined, err }),
    );
    const blockedBy = async () =>
      (await sql<{ n: number }>(server.databaseUrl, "select count(*)::int as n from pg_stat_activity where $1 = any(pg_blocking_pids(pid))", [rows[0]!.pid]))[0]!.n;
    const blocked = await pollCount(blockedBy, (n) => n > 0, 10_000);
    if (blocked !== 1) throw new Error(`whileChangeCommits: ${blocked} backends waited on the change, not 1`);
    await holder.query("commit");
    return await outcome;
  } finally {
    await holder.end();
  }
}

/** Backends of this database (other than the asking one) waiting on a lock right now. */
export async function lockWaiters(databaseUrl: string): Promise<number> {
  const [row] = await sql<{ n: number }>(
    databaseUrl,
    "select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock' and pid <> pg_backend_pid()",
  );
  return row!.n;
}

/** Polls (every 25 ms, at most `timeoutMs`) until no backend waits on a lock; returns how many still do. */
export function untilNoLockWaiters(databaseUrl: string, timeoutMs = 5_000): Promise<number> {
  return pollCount(() => lockWaiters(databaseUrl), (n) => n === 0, timeoutMs);
}

/** Asks `count` every 25 ms until `done` accepts its answer or `timeoutMs` passed; returns the
 * last answer. */
async function pollCount(count: () => Promise<number>, done: (n: number) => boolean, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let n = await count();
  while (!done(n) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 25));
    n = await count();
  }
  return n;
}

export function bearer(token: string): { authorization: string } {
  return { authorization: `Bearer ${token}` };
}

/** Marks a customer's contacts verified straight in the database (until the verification RPCs
 * of VerificationService exist, the only way for a test to reach ACTIVE). */
export async function markContactsVerified(
  server: TestServer,
  tenantId: string,
  customerId: string,
  which: { email?: boolean; phone?: boolean } = { email: true, phone: true },
): Promise<void> {
  await sql(
    server.databaseUrl,
    "update customers set email_verified = $3, phone_verified = $4 where tenant_id = $1 and id = $2",
    [tenantId, customerId, which.email ?? false, which.phone ?? false],
  );
}

// The process-level harness of the fault suite: the service as a real child process started
// with the `npm start` command line (read from package.json, run without npm in between so the
// test sees the service's own exit code and can signal it directly), against the suite's own
// database and a redis-server the test owns; kill (any signal), restart, and grpc-js clients.
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { inject } from "vitest";
import { TEST_MASTER_KEY } from "../../support/app.js";
import { grpc, grpcClients, metadata, unary } from "../../support/grpc.js";
import { cleanEnv, spawnService, startCommand, waitListening, type Child } from "../../support/process.js";

export const ADMIN_TOKEN = `faults-admin-${randomBytes(16).toString("hex")}`;
const SECRET = randomBytes(24).toString("hex");

export interface ServiceOptions {
  /** The database (default: the fault suite's, from the vitest global setup). */
  readonly database?: { readonly ownerUrl: string; readonly serviceUrl: string };
  /** redis://… of the test's own redis-server (omitted: no REDIS_URL, the in-memory twins). */
  readonly redisUrl?: string;
  /** More environment (overrides the defaults below). */
  readonly env?: Record<string, string>;
}

export class ServiceProcess {
  child!: Child;
  port = 0;
  clients!: ReturnType<typeof grpcClients>;
  private dataDir = "";
  /** Every child this instance started (for the failure messages and the final cleanup). */
  readonly history: Child[] = [];

  constructor(private readonly options: ServiceOptions = {}) {}

  /** The schema owner's URL (the tests' own inspection queries). */
  get databaseUrl(): string {
    return this.options.database?.ownerUrl ?? inject("databaseUrl");
  }

  get running(): boolean {
    return this.child !== undefined && this.child.proc.exitCode === null && this.child.proc.signalCode === null;
  }

  get pid(): number {
    return this.child.proc.pid!;
  }

  /** Starts (or starts again, on a new port) and waits for "customerms listening". */
  async start(): Promise<void> {
    if (this.dataDir === "") this.dataDir = await mkdtemp(join(tmpdir(), "cms-faults-data-"));
    const env = cleanEnv({
      NODE_ENV: "test",
      PORT: "0",
      HOST: "127.0.0.1",
      DATABASE_URL: this.options.database?.serviceUrl ?? inject("serviceDatabaseUrl"),
      DATABASE_MIGRATION_URL: this.databaseUrl,
      DATABASE_POOL_MAX: "20",
      CUSTOMERMS_ADMIN_TOKEN: ADMIN_TOKEN,
      CUSTOMERMS_MASTER_KEY: TEST_MASTER_KEY,
      CUSTOMERMS_SECRET: SECRET,
      CUSTOMERMS_DATA_DIR: this.dataDir,
      CUSTOMERMS_MIGRATE_ON_START: "false",
      CUSTOMERMS_AUTH_FAILURES_PER_MINUTE: "100000",
      CUSTOMERMS_HEALTH_INTERVAL_MS: "200",
      // "info": waitListening reads the "customerms listening" line.
      LOG_LEVEL: "info",
      ...(this.options.redisUrl ? { REDIS_URL: this.options.redisUrl } : {}),
      ...this.options.env,
    });
    const [command, ...args] = startCommand();
    this.child = spawnService(command!, args, env);
    this.history.push(this.child);
    this.port = await waitListening(this.child);
    this.clients?.close();
    this.clients = grpcClients(this.port);
  }

  /** Sends a signal to the service process itself and waits (bounded) for its exit. */
  async kill(signal: NodeJS.Signals, timeoutMs = 20_000): Promise<{ exit: number | string; ms: number }> {
    const t0 = performance.now();
    if (this.running) this.child.proc.kill(signal);
    const exit = await Promise.race([
      this.child.exited,
      new Promise<string>((r) => setTimeout(r, timeoutMs, "timeout").unref()),
    ]);
    return { exit, ms: performance.now() - t0 };
  }

  /** SIGKILL whatever is still running, close clients, remove the data directory. */
  async dispose(): Promise<void> {
    this.clients?.close();
    for (const c of this.history) {
      if (c.proc.exitCode === null && c.proc.signalCode === null) {
        c.proc.kill("SIGKILL");
        await c.exited;
      }
    }
    if (this.dataDir !== "") await rm(this.dataDir, { recursive: true, force: true });
  }

  /** grpc.health.v1 Check status of a service ("" = the server), or the error code's name. */
  async health(service = ""): Promise<string> {
    try {
      return (await unary(this.clients.health, "check", { service }, undefined, { deadline: Date.now() + 1_000 })).status;
    } catch (err) {
      return `error:${grpc.status[(err as grpc.ServiceError).code]}`;
    }
  }

  /** A new tenant and its API key's metadata, through TenantService with the admin token. */
  async createTenant(settings: object = {}): Promise<{ id: string; apiKey: string; keyId: string; md: grpc.Metadata }> {
    const res = await unary(
      this.clients.tenants,
      "createTenant",
      { tenant: { displayName: `faults ${randomBytes(4).toString("hex")}`, ...settings } },
      adminMetadata(),
    );
    return { id: res.tenant.id, apiKey: res.apiKey, keyId: res.key.id, md: metadata({ authorization: `Bearer ${res.apiKey}` }) };
  }
}

export function adminMetadata(): grpc.Metadata {
  return metadata({ authorization: `Bearer ${ADMIN_TOKEN}` });
}

/** Polls `check` every `intervalMs` until it returns true or `timeoutMs` passes; returns the
 * elapsed ms, or undefined on timeout. Never a fixed sleep: it returns as soon as it holds. */
export async function until(check: () => Promise<boolean> | boolean, timeoutMs: number, intervalMs = 25): Promise<number | undefined> {
  const t0 = performance.now();
  const deadline = t0 + timeoutMs;
  for (let i = 0; i < 1_000_000; i++) {
    if (await check()) return performance.now() - t0;
    if (performance.now() > deadline) return undefined;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  return undefined;
}

/** Whether a TCP connection to 127.0.0.1:port is accepted (false: refused or reset). */
export function acceptsConnections(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: "127.0.0.1", port });
    s.setTimeout(1_000, () => {
      s.destroy();
      resolve(false);
    });
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

/** One query as the schema owner (sees every tenant). */
export async function query<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<R[]> {
  const client = new pg.Client({ connectionString: inject("databaseUrl") });
  await client.connect();
  try {
    return (await client.query<R>(text, values)).rows;
  } finally {
    await client.end();
  }
}

/** The grpc status name of an error (or "OK"). */
export function codeName(err: unknown): string {
  if (err === undefined || err === null) return "OK";
  const code = (err as grpc.ServiceError).code;
  return typeof code === "number" ? (grpc.status[code] ?? String(code)) : `non-grpc:${(err as Error).message}`;
}

/** Tally of outcomes by code name. */
export class Tally {
  readonly counts: Record<string, number> = {};
  add(code: string): void {
    this.counts[code] = (this.counts[code] ?? 0) + 1;
  }
  get(code: string): number {
    return this.counts[code] ?? 0;
  }
  get total(): number {
    return Object.values(this.counts).reduce((a, b) => a + b, 0);
  }
}

// CUSTOMERMS_WORKERS=N: one primary process and N workers sharing the one port (node:cluster
// hands each accepted connection to a worker, round-robin). The primary does what must happen
// once — migrations, development secrets — then forks; it serves nothing itself. SIGTERM/SIGINT
// are passed to every worker, which drains as a single process would; the primary exits when
// they have (0 if all exited cleanly). A worker that dies unexpectedly is replaced, at most
// MAX_RESTARTS times a minute (then the primary gives up and exits 1: something is wrong).
import cluster, { type Worker } from "node:cluster";
import { randomBytes } from "node:crypto";
import type { Config } from "./config.js";
import { migrateDatabase } from "./db/database.js";
import { resolveDevSecret } from "./db/dev-secret.js";
import { createLogger } from "./observability/logger.js";
import { resolveAdminToken } from "./tenants/admin-token.js";

const MAX_RESTARTS = 5;

export async function runPrimary(config: Config): Promise<void> {
  const logger = createLogger(config.logLevel).child({ component: "primary" });
  if (config.migrateOnStart) {
    const applied = await migrateDatabase(config.databaseMigrationUrl!, { debug: (m) => logger.debug(m), warn: (m) => logger.warn(m) });
    if (applied.length > 0) logger.info({ migrations: applied }, "migrations applied");
  }
  // Generated once here, read from the data directory by every worker.
  const adminToken = await resolveAdminToken(config.adminToken, config.dataDir);
  await resolveDevSecret(config.masterKey, config.dataDir, "master-key", () => randomBytes(32).toString("base64"));
  await resolveDevSecret(config.secret, config.dataDir, "secret", () => randomBytes(32).toString("base64"));
  if (adminToken.source === "generated") {
    process.stdout.write(`\nGenerated a development admin token (kept in ${adminToken.path}; shown only now):\n\n  ${adminToken.value}\n\n`);
  }

  let stopping = false;
  let failed = false;
  const restarts: number[] = [];
  const fork = (): Worker => cluster.fork({ CUSTOMERMS_MIGRATE_ON_START: "false" });
  const alive = () => Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined);
  const stopAll = () => {
    stopping = true;
    for (const w of alive()) w.process.kill("SIGTERM");
    if (alive().length === 0) process.exit(failed ? 1 : 0);
  };
  cluster.on("exit", (worker, code, signal) => {
    if (stopping) {
      if (code !== 0) failed = true;
      if (alive().length === 0) process.exit(failed ? 1 : 0);
      return;
    }
    const now = Date.now();
    restarts.push(now);
    while (restarts.length > 0 && restarts[0]! < now - 60_000) restarts.shift();
    if (restarts.length > MAX_RESTARTS) {
      logger.error({ pid: worker.process.pid, code, signal }, "workers keep dying: giving up");
      failed = true;
      stopAll();
      return;
    }
    logger.error({ pid: worker.process.pid, code, signal }, "a worker died: starting another");
    fork();
  });
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    process.on(signal, () => {
      if (stopping) return;
      logger.info({ signal, workers: alive().length }, "shutting down: draining the workers");
      stopAll();
    });
  }
  for (let i = 0; i < config.workers; i++) fork();
  logger.info({ workers: config.workers, port: config.port }, "customerms primary: workers starting");
}

// buildApp(config): wires database, services, handlers and the one-port front door. main.ts and
// the API tests both use it.
import { setMaxListeners } from "node:events";
import type { Config } from "./config.js";
import { CustomerRepository } from "./customers/customer.repository.js";
import { CustomerService } from "./customers/customer.service.js";
import { openDatabase, type Database } from "./db/database.js";
import { randomBytes } from "node:crypto";
import { resolveDevSecret } from "./db/dev-secret.js";
import { createKeyring, DataKeys, parseMasterKey } from "./db/envelope.js";
import { AuthFailures } from "./server/auth-failures.js";
import { Metrics, type PoolStats } from "./observability/metrics.js";
import { EventRepository } from "./events/event.repository.js";
import { EventSequencer, numberingStore } from "./events/event.sequencer.js";
import { RetentionSweeper } from "./db/retention.js";
import { EventListener } from "./events/event.listener.js";
import { EventService } from "./events/event.service.js";
import { createLogger, type Logger } from "./observability/logger.js";
import { createFrontDoor } from "./server/front-door.js";
import { HealthMonitor } from "./server/health.js";
import { createHandler, SERVICE_DEPENDENCIES } from "./server/routes.js";
import { CorsOrigins } from "./server/cors.js";
import { createRedis, pingRedis } from "./db/redis.js";
import { buildVerification } from "./verification/index.js";
import { resolveAdminToken, type AdminToken } from "./tenants/admin-token.js";
import { TenantRepository } from "./tenants/tenant.repository.js";
import { TenantService } from "./tenants/tenant.service.js";
import { SessionService } from "./tenants/session.service.js";
import { createTracing } from "./observability/tracing.js";
import { installFastUtf8 } from "./server/utf8.js";

const randomBase64 = (bytes: number) => randomBytes(bytes).toString("base64");

export interface App {
  readonly logger: Logger;
  readonly database: Database;
  /** "redis" with REDIS_URL, "memory" for the embedded twins. */
  readonly codeStore: "redis" | "memory";
  readonly adminToken: AdminToken;
  /** Starts serving; resolves with the bound port (useful with PORT=0). */
  listen(): Promise<number>;
  /** Graceful stop: NOT_SERVING, drain in-flight calls (up to the grace period), close the database. */
  close(): Promise<void>;
}

export interface BuildOptions {
  readonly logger?: Logger;
  /** The clock of code expiry (tests move it forward instead of sleeping). */
  readonly clock?: () => Date;
}

interface TarnPool {
  numUsed(): number;
  numFree(): number;
  numPendingAcquires(): number;
}

/** knex's tarn pool behind MikroORM (undefined before the first connection). The connections
 * the scopes keep warm between statements are idle, though tarn counts them as used. */
function knexPoolStats(database: Database): PoolStats | undefined {
  const knex = (database.orm.em.getConnection() as unknown as { getKnex(): { client: { pool?: TarnPool } } }).getKnex();
  const pool = knex.client.pool;
  if (!pool) return undefined;
  const warm = database.scopes.warmConnections();
  return { used: pool.numUsed() - warm, free: pool.numFree() + warm, pendingAcquires: pool.numPendingAcquires() };
}

export async function buildApp(config: Config, options: BuildOptions = {}): Promise<App> {
  installFastUtf8(); // protobuf-es string encoding without TextEncoder's per-call cost (server/utf8.ts)
  const logger = options.logger ?? createLogger(config.logLevel);
  const ormLogger = logger.child({ component: "database" });
  const database = await openDatabase(
    config,
    { debug: (message) => ormLogger.debug(message), warn: (message) => ormLogger.warn(message) },
    { migrate: config.migrateOnStart },
  );
  try {
    if (database.migrationsApplied.length > 0) logger.info({ migrations: database.migrationsApplied }, "migrations applied");
    if (database.role.via === "set-role") {
      logger.warn(
        { role: database.role.name },
        "DATABASE_URL's role bypasses row-level security: every connection drops to customerms_app with SET ROLE (development only; production refuses such a role)",
      );
    }
    const { scopes } = database;
    const adminToken = await resolveAdminToken(config.adminToken, config.dataDir);
    const tenants = new TenantService(scopes, new TenantRepository(), undefined, (message, err) => logger.warn({ err: err.message }, message));
    const masterKey = await resolveDevSecret(config.masterKey, config.dataDir, "master-key", () => randomBase64(32));
    const keys = new DataKeys(createKeyring(parseMasterKey(masterKey.value), config.previousMasterKeys.map(parseMasterKey)));
    const customerRepo = new CustomerRepository(keys, scopes);
    const sequencer = new EventSequencer(numberingStore(scopes), (message, err) => logger.warn({ err: err.message }, message));
    const events = new EventRepository(sequencer);
    const customers = new CustomerService(customerRepo, events, keys, tenants);
    const redis = config.redisUrl ? createRedis(config.redisUrl, logger) : undefined;
    if (redis) await redis.connect().catch(() => undefined); // unreachable: verification fails closed, retried
    const secret = await resolveDevSecret(config.secret, config.dataDir, "secret", () => randomBase64(32));
    const verification = buildVerification(config, logger, redis, customers, tenants, Buffer.from(secret.value), options.clock);
    const health = new HealthMonitor(
      SERVICE_DEPENDENCIES,
      redis
        ? { database: (ms) => database.ping(ms), redis: (ms) => pingRedis(redis, ms) }
        : { database: (ms) => database.ping(ms), redis: async () => undefined },
      config.healthIntervalMs,
      logger,
    );
    const listener = new EventListener(database.url, logger);
    await listener.start();
    await sequencer.start(); // numbers what a crash between a commit and its numbering left behind
    const retention = new RetentionSweeper(scopes, config.idempotencyRetentionMs, logger);
    retention.start();
    const eventService = new EventService(scopes, events, listener, async (em, tenantId, id) =>
      (await customerRepo.findById(em, tenantId, id)) !== null,
    );
    const cors = new CorsOrigins(config.corsOrigins, () => tenants.allCorsOrigins(), 5_000, (err) =>
      logger.warn({ err: err.message }, "could not refresh tenant CORS origins; keeping the last known set"),
    );
    await cors.start();
    const metrics = new Metrics({
      pool: () => knexPoolStats(database),
      redisReady: () => (redis === undefined ? undefined : redis.status === "ready" ? 1 : 0),
    });
    const tracing = config.tracing ? createTracing(config.tracing) : undefined;
    if (tracing) logger.info({ url: config.tracing!.url }, "OpenTelemetry traces on: one span per RPC, sent as OTLP/HTTP");
    const streamsShutdown = new AbortController();
    const shutdown = new AbortController();
    // Every in-flight call listens on it; the default limit of 10 would warn under load.
    setMaxListeners(0, shutdown.signal);
    const routes = createHandler({
        config,
        logger,
        data: { scopes, keys },
        authFailures: new AuthFailures(config.authFailuresPerMinute, redis),
        adminToken: adminToken.value,
        tenants,
        sessions: new SessionService(scopes),
        customers,
        verification,
        events: eventService,
        cors,
        streamsShutdown: streamsShutdown.signal,
        health,
        shutdownSignal: shutdown.signal,
        metrics,
        tracer: tracing?.tracer,
      });
    const door = createFrontDoor(routes.http, routes.grpcStream);
    let closing: Promise<void> | undefined;
    return {
      logger,
      database,
      codeStore: redis ? "redis" : "memory",
      adminToken,
      async listen() {
        await health.start();
        return door.listen(config.port, config.host);
      },
      close() {
        closing ??= (async () => {
          health.stop();
          cors.stop();
          streamsShutdown.abort(); // event streams end now (UNAVAILABLE), unary calls drain
          await door.close(config.shutdownGraceMs);
          await sequencer.stop();
          await retention.stop();
          await listener.stop();
          shutdown.abort();
          redis?.disconnect();
          await database.close();
          await tracing?.shutdown().catch((err: Error) => logger.warn({ err: err.message }, "could not send the last traces"));
        })();
        return closing;
      },
    };
  } catch (err) {
    await database.close();
    throw err;
  }
}

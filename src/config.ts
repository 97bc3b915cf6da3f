// The only reader of process.env. Parsed and validated once into a frozen Config; a bad value
// becomes one clear line (ConfigError) that main.ts prints before exiting with code 1.
import { z } from "zod";

export class ConfigError extends Error {
  override name = "ConfigError";
}

const bool = z
  .enum(["true", "false", "1", "0", "yes", "no"])
  .transform((v) => v === "true" || v === "1" || v === "yes");
const int = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d+$/, "must be a whole number")
    .transform(Number)
    .pipe(z.number().int().min(min).max(max));

const schema = z.object({
  NODE_ENV: z.enum(["development", "test", "production"]).default("development"),
  PORT: int(0, 65535).default(8080),
  HOST: z.string().min(1).optional(),
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, "must be a postgres:// or postgresql:// URL")
    .optional(),
  DATABASE_MIGRATION_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, "must be a postgres:// or postgresql:// URL")
    .optional(),
  DATABASE_POOL_MAX: int(1, 200).default(10),
  REDIS_URL: z.string().regex(/^rediss?:\/\//, "must be a redis:// or rediss:// URL").optional(),
  CUSTOMERMS_SECRET: z.string().min(32, "must be at least 32 characters").optional(),
  CUSTOMERMS_NOTIFIER: z.enum(["log", "smtp", "webhook"]).optional(),
  CUSTOMERMS_PHONE_NOTIFIER: z.enum(["log", "webhook"]).optional(),
  CUSTOMERMS_SMTP_URL: z.string().regex(/^smtps?:\/\//, "must be an smtp:// or smtps:// URL").optional(),
  CUSTOMERMS_SMTP_FROM: z.string().email("must be an email address").default("no-reply@customerms.local"),
  CUSTOMERMS_WEBHOOK_URL: z.string().url("must be an http(s) URL").regex(/^https?:\/\//, "must be an http(s) URL").optional(),
  CUSTOMERMS_WEBHOOK_SECRET: z.string().min(32, "must be at least 32 characters").optional(),
  CUSTOMERMS_DATA_DIR: z.string().min(1).default("./.data"),
  CUSTOMERMS_ADMIN_TOKEN: z.string().min(32, "must be at least 32 characters").optional(),
  CUSTOMERMS_MASTER_KEY: z
    .string()
    .regex(/^[A-Za-z0-9+/]{43}=$/, "must be 32 random bytes, base64-encoded (openssl rand -base64 32)")
    .optional(),
  CUSTOMERMS_MASTER_KEY_PREVIOUS: z
    .string()
    .regex(/^[A-Za-z0-9+/]{43}=(,[A-Za-z0-9+/]{43}=)*$/, "must be a comma-separated list of earlier master keys (32 bytes each, base64)")
    .optional(),
  CUSTOMERMS_AUTH_FAILURES_PER_MINUTE: int(1, 100_000).default(30),
  CUSTOMERMS_CORS_ORIGINS: z.string().default(""),
  CUSTOMERMS_MIGRATE_ON_START: bool.default(true),
  CUSTOMERMS_GRPC_FAST_PATH: bool.default(true),
  CUSTOMERMS_CONNECT_FAST_PATH: bool.default(true),
  CUSTOMERMS_WORKERS: int(1, 256).default(1),
  CUSTOMERMS_MAX_DEADLINE_MS: int(100, 600_000).default(30_000),
  CUSTOMERMS_SHUTDOWN_GRACE_MS: int(0, 600_000).default(10_000),
  CUSTOMERMS_HEALTH_INTERVAL_MS: int(100, 60_000).default(1_000),
  CUSTOMERMS_STREAM_HEARTBEAT_MS: int(100, 300_000).default(15_000),
  // The contract promises a request_id is kept for at least 24 hours; 0 keeps them for good.
  CUSTOMERMS_IDEMPOTENCY_RETENTION_HOURS: int(0, 87_600)
    .refine((h) => h === 0 || h >= 24, "must be 0 (keep for good) or at least 24 (the API promises request_ids are kept 24 hours)")
    .default(168),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  // OpenTelemetry's own names, so operators set what they already know.
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: z.string().url("must be an http(s) URL").regex(/^https?:\/\//, "must be an http(s) URL").optional(),
  OTEL_SERVICE_NAME: z.string().min(1).max(100).default("customerms"),
});

export interface Config {
  readonly env: "development" | "test" | "production";
  readonly port: number;
  readonly host: string;
  /** Unset: run on the embedded PGlite in dataDir (one process only). */
  readonly databaseUrl: string | undefined;
  /** The schema owner's connection, for migrations only (`npm run migrate`, and on start when
   * migrateOnStart); defaults to databaseUrl. The service itself never uses it. */
  readonly databaseMigrationUrl: string | undefined;
  readonly databasePoolMax: number;
  /** Unset: verification codes and rate limits live in memory (one process only). */
  readonly redisUrl: string | undefined;
  /** HMAC key for verification codes. Unset outside production: generated in dataDir. */
  readonly secret: string | undefined;
  readonly notifier: {
    readonly email: "log" | "smtp" | "webhook";
    readonly phone: "log" | "webhook";
    readonly smtpUrl: string | undefined;
    readonly smtpFrom: string;
    readonly webhookUrl: string | undefined;
    readonly webhookSecret: string | undefined;
  };
  readonly dataDir: string;
  /** Unset outside production: generated and kept in dataDir (see tenants/admin-token.ts). */
  readonly adminToken: string | undefined;
  /** Base64 of the 32-byte key that encrypts personal data fields. Unset outside production:
   * generated and kept in dataDir. Losing it makes those fields unreadable. */
  readonly masterKey: string | undefined;
  /** Earlier master keys, still accepted to unwrap data keys until `npm run rotate-master-key`. */
  readonly previousMasterKeys: readonly string[];
  /** Failed authentications per client address per minute before it is refused for a while. */
  readonly authFailuresPerMinute: number;
  readonly corsOrigins: readonly string[];
  readonly migrateOnStart: boolean;
  /** Serve plain gRPC over HTTP/2 from the lean path (server/grpc-fast.ts); false: connect-node serves everything. */
  readonly grpcFastPath: boolean;
  /** Serve Connect unary POSTs from the lean path (server/connect-fast.ts); false: connect-node does. */
  readonly connectFastPath: boolean;
  /** Worker processes sharing the port (node:cluster); 1 = this process serves. */
  readonly workers: number;
  readonly maxDeadlineMs: number;
  readonly shutdownGraceMs: number;
  readonly healthIntervalMs: number;
  /** Idle event streams get a heartbeat this often. */
  readonly streamHeartbeatMs: number;
  /** How long idempotency records (request_ids and their responses) are kept; undefined = for good. */
  readonly idempotencyRetentionMs: number | undefined;
  readonly logLevel: string;
  /** OpenTelemetry traces: one server span per RPC sent as OTLP/HTTP JSON to `url`; unset = off. */
  readonly tracing: { readonly url: string; readonly serviceName: string } | undefined;
  /** The largest request or response message accepted, in bytes. */
  readonly maxMessageBytes: number;
}

/** Parses the environment (process.env by default). Throws ConfigError with one readable line. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  // Empty strings count as unset, as in most shells' `VAR= cmd`.
  const cleaned = Object.fromEntries(
    Object.keys(schema.shape)
      .map((k) => [k, env[k]] as const)
      .filter(([, v]) => v !== undefined && v !== ""),
  );
  const parsed = schema.safeParse(cleaned);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
    throw new ConfigError(`invalid configuration: ${issues.join("; ")}`);
  }
  const c = parsed.data;
  if (c.NODE_ENV === "production") {
    const missing = [
      c.DATABASE_URL ? undefined : "DATABASE_URL",
      c.CUSTOMERMS_ADMIN_TOKEN ? undefined : "CUSTOMERMS_ADMIN_TOKEN",
      c.CUSTOMERMS_MASTER_KEY ? undefined : "CUSTOMERMS_MASTER_KEY",
      c.REDIS_URL ? undefined : "REDIS_URL",
      c.CUSTOMERMS_SECRET ? undefined : "CUSTOMERMS_SECRET",
      c.CUSTOMERMS_NOTIFIER ? undefined : "CUSTOMERMS_NOTIFIER",
    ].filter((m): m is string => m !== undefined);
    if (missing.length > 0) {
      const list = missing.length === 1 ? missing[0] : `${missing.slice(0, -1).join(", ")} and ${missing.at(-1)}`;
      throw new ConfigError(
        `NODE_ENV=production requires ${list}; the embedded database and generated secrets are for development only`,
      );
    }
  }
  const prod = c.NODE_ENV === "production";
  if (c.CUSTOMERMS_WORKERS > 1 && !(c.DATABASE_URL && c.REDIS_URL)) {
    throw new ConfigError(
      "invalid configuration: CUSTOMERMS_WORKERS > 1 requires DATABASE_URL and REDIS_URL (the embedded database and the in-memory codes and limits belong to one process)",
    );
  }
  if (c.DATABASE_MIGRATION_URL && !c.DATABASE_URL) {
    throw new ConfigError("invalid configuration: DATABASE_MIGRATION_URL requires DATABASE_URL (the service's own, non-owner connection)");
  }
  const email = c.CUSTOMERMS_NOTIFIER ?? "log";
  const phone = c.CUSTOMERMS_PHONE_NOTIFIER ?? (email === "smtp" ? (prod ? undefined : "log") : email);
  if (phone === undefined) {
    throw new ConfigError("invalid configuration: CUSTOMERMS_NOTIFIER=smtp cannot send SMS: set CUSTOMERMS_PHONE_NOTIFIER=webhook");
  }
  if (prod && (email === "log" || phone === "log")) {
    throw new ConfigError("invalid configuration: the log notifier writes codes to the log and is refused in production: use smtp or webhook");
  }
  if (email === "smtp" && !c.CUSTOMERMS_SMTP_URL) {
    throw new ConfigError("invalid configuration: CUSTOMERMS_NOTIFIER=smtp requires CUSTOMERMS_SMTP_URL");
  }
  if ((email === "webhook" || phone === "webhook") && !(c.CUSTOMERMS_WEBHOOK_URL && c.CUSTOMERMS_WEBHOOK_SECRET)) {
    throw new ConfigError("invalid configuration: the webhook notifier requires CUSTOMERMS_WEBHOOK_URL and CUSTOMERMS_WEBHOOK_SECRET");
  }
  const origins = c.CUSTOMERMS_CORS_ORIGINS.split(",")
    .map((o) => o.trim())
    .filter((o) => o !== "");
  for (const o of origins) {
    if (!/^https?:\/\/[^/\s]+$/.test(o)) {
      throw new ConfigError(
        `invalid configuration: CUSTOMERMS_CORS_ORIGINS: "${o}" is not an origin like https://app.example.com`,
      );
    }
  }
  return Object.freeze({
    env: c.NODE_ENV,
    port: c.PORT,
    host: c.HOST ?? (c.NODE_ENV === "production" ? "0.0.0.0" : "127.0.0.1"),
    databaseUrl: c.DATABASE_URL,
    databaseMigrationUrl: c.DATABASE_MIGRATION_URL ?? c.DATABASE_URL,
    databasePoolMax: c.DATABASE_POOL_MAX,
    redisUrl: c.REDIS_URL,
    secret: c.CUSTOMERMS_SECRET,
    notifier: Object.freeze({
      email,
      phone,
      smtpUrl: c.CUSTOMERMS_SMTP_URL,
      smtpFrom: c.CUSTOMERMS_SMTP_FROM,
      webhookUrl: c.CUSTOMERMS_WEBHOOK_URL,
      webhookSecret: c.CUSTOMERMS_WEBHOOK_SECRET,
    }),
    dataDir: c.CUSTOMERMS_DATA_DIR,
    adminToken: c.CUSTOMERMS_ADMIN_TOKEN,
    masterKey: c.CUSTOMERMS_MASTER_KEY,
    previousMasterKeys: Object.freeze(c.CUSTOMERMS_MASTER_KEY_PREVIOUS?.split(",") ?? []),
    authFailuresPerMinute: c.CUSTOMERMS_AUTH_FAILURES_PER_MINUTE,
    corsOrigins: Object.freeze(origins),
    migrateOnStart: c.CUSTOMERMS_MIGRATE_ON_START,
    grpcFastPath: c.CUSTOMERMS_GRPC_FAST_PATH,
    connectFastPath: c.CUSTOMERMS_CONNECT_FAST_PATH,
    workers: c.CUSTOMERMS_WORKERS,
    maxDeadlineMs: c.CUSTOMERMS_MAX_DEADLINE_MS,
    shutdownGraceMs: c.CUSTOMERMS_SHUTDOWN_GRACE_MS,
    healthIntervalMs: c.CUSTOMERMS_HEALTH_INTERVAL_MS,
    streamHeartbeatMs: c.CUSTOMERMS_STREAM_HEARTBEAT_MS,
    idempotencyRetentionMs: c.CUSTOMERMS_IDEMPOTENCY_RETENTION_HOURS === 0 ? undefined : c.CUSTOMERMS_IDEMPOTENCY_RETENTION_HOURS * 3_600_000,
    logLevel: c.LOG_LEVEL,
    tracing: c.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT
      ? Object.freeze({ url: c.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, serviceName: c.OTEL_SERVICE_NAME })
      : undefined,
    maxMessageBytes: 4 * 1024 * 1024,
  });
}

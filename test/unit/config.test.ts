import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config.js";

describe("loadConfig", () => {
  it("has embedded, development defaults", () => {
    const c = loadConfig({});
    expect(c).toMatchObject({
      env: "development",
      port: 8080,
      host: "127.0.0.1",
      databaseUrl: undefined,
      dataDir: "./.data",
      adminToken: undefined,
      corsOrigins: [],
      migrateOnStart: true,
      maxMessageBytes: 4 * 1024 * 1024,
      tracing: undefined,
    });
    expect(Object.isFrozen(c)).toBe(true);
  });

  it("keeps idempotency records 7 days unless CUSTOMERMS_IDEMPOTENCY_RETENTION_HOURS says otherwise (0 = for good, never under 24)", () => {
    expect(loadConfig({}).idempotencyRetentionMs).toBe(168 * 3_600_000);
    expect(loadConfig({ CUSTOMERMS_IDEMPOTENCY_RETENTION_HOURS: "24" }).idempotencyRetentionMs).toBe(24 * 3_600_000);
    expect(loadConfig({ CUSTOMERMS_IDEMPOTENCY_RETENTION_HOURS: "0" }).idempotencyRetentionMs).toBeUndefined();
    expect(() => loadConfig({ CUSTOMERMS_IDEMPOTENCY_RETENTION_HOURS: "12" })).toThrow(/CUSTOMERMS_IDEMPOTENCY_RETENTION_HOURS: must be 0 \(keep for good\) or at least 24/);
    expect(() => loadConfig({ CUSTOMERMS_IDEMPOTENCY_RETENTION_HOURS: "1.5" })).toThrow(/CUSTOMERMS_IDEMPOTENCY_RETENTION_HOURS: must be a whole number/);
  });

  it("turns OpenTelemetry traces on with OTEL_EXPORTER_OTLP_TRACES_ENDPOINT (service name customerms unless OTEL_SERVICE_NAME)", () => {
    expect(loadConfig({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "http://otel:4318/v1/traces" }).tracing).toEqual({
      url: "http://otel:4318/v1/traces",
      serviceName: "customerms",
    });
    expect(loadConfig({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "https://otel/v1/traces", OTEL_SERVICE_NAME: "cms-eu" }).tracing?.serviceName).toBe("cms-eu");
    expect(() => loadConfig({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "otel:4318" })).toThrow(/OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: must be an http\(s\) URL/);
  });

  it.each([
    [{ PORT: "abc" }, "PORT: must be a whole number"],
    [{ PORT: "70000" }, "PORT"],
    [{ DATABASE_URL: "mysql://x" }, "DATABASE_URL: must be a postgres:// or postgresql:// URL"],
    [{ CUSTOMERMS_ADMIN_TOKEN: "short" }, "CUSTOMERMS_ADMIN_TOKEN: must be at least 32 characters"],
    [{ CUSTOMERMS_CORS_ORIGINS: "https://ok.example, not an origin" }, 'CUSTOMERMS_CORS_ORIGINS: "not an origin"'],
    [{ CUSTOMERMS_MIGRATE_ON_START: "maybe" }, "CUSTOMERMS_MIGRATE_ON_START"],
    [{ NODE_ENV: "production", DATABASE_URL: "postgres://db/x" }, "requires CUSTOMERMS_ADMIN_TOKEN, CUSTOMERMS_MASTER_KEY, REDIS_URL, CUSTOMERMS_SECRET and CUSTOMERMS_NOTIFIER"],
    [{ CUSTOMERMS_NOTIFIER: "smtp" }, "CUSTOMERMS_NOTIFIER=smtp requires CUSTOMERMS_SMTP_URL"],
    [{ CUSTOMERMS_NOTIFIER: "webhook" }, "requires CUSTOMERMS_WEBHOOK_URL and CUSTOMERMS_WEBHOOK_SECRET"],
    [{ REDIS_URL: "http://x" }, "REDIS_URL: must be a redis:// or rediss:// URL"],
    [{ CUSTOMERMS_MASTER_KEY: "dG9vIHNob3J0" }, "CUSTOMERMS_MASTER_KEY: must be 32 random bytes, base64-encoded"],
  ])("%o is refused with a clear message", (env, message) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(message);
  });

  it("production with its requirements binds all interfaces; origins are parsed", () => {
    const c = loadConfig({
      NODE_ENV: "production",
      DATABASE_URL: "postgresql://db.internal/customers",
      CUSTOMERMS_ADMIN_TOKEN: "x".repeat(40),
      CUSTOMERMS_MASTER_KEY: Buffer.alloc(32, 7).toString("base64"),
      REDIS_URL: "redis://cache.internal:6379",
      CUSTOMERMS_SECRET: "s".repeat(40),
      CUSTOMERMS_NOTIFIER: "webhook",
      CUSTOMERMS_WEBHOOK_URL: "https://messaging.internal/send",
      CUSTOMERMS_WEBHOOK_SECRET: "w".repeat(40),
      CUSTOMERMS_CORS_ORIGINS: "https://app.example.com, http://localhost:5173",
    });
    expect(c.host).toBe("0.0.0.0");
    expect(c.corsOrigins).toEqual(["https://app.example.com", "http://localhost:5173"]);
  });

  it("treats empty variables as unset", () => {
    expect(loadConfig({ PORT: "", DATABASE_URL: "" })).toMatchObject({ port: 8080, databaseUrl: undefined });
  });
});

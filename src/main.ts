// Entry point: config -> buildApp -> listen. SIGTERM/SIGINT drain and close; a bad
// configuration is one clear line and exit code 1. With CUSTOMERMS_WORKERS > 1 this process is
// the primary of a node:cluster (src/cluster.ts) and each worker runs serve().
import { ConfigError, loadConfig, type Config } from "./config.js";

let config: Config;
try {
  config = loadConfig();
} catch (err) {
  if (err instanceof ConfigError) {
    process.stderr.write(`customerms: ${err.message}\n`);
    process.exit(1);
  }
  throw err;
}

const cluster = (await import("node:cluster")).default;
if (config.workers > 1 && cluster.isPrimary) {
  const { runPrimary } = await import("./cluster.js");
  await runPrimary(config).catch((err: unknown) => {
    process.stderr.write(`customerms: cannot start: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
} else {
  await serve(config);
}

async function serve(config: Config): Promise<void> {
  // Loaded after the configuration is known to be valid, so a bad value fails fast.
  const { buildApp } = await import("./app.js");
  const app = await buildApp(config).catch((err: unknown) => {
    process.stderr.write(`customerms: cannot start: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
  const port = await app.listen().catch((err: unknown) => {
    process.stderr.write(`customerms: cannot listen on ${config.host}:${config.port}: ${(err as Error).message}\n`);
    process.exit(1);
  });

  const { logger } = app;
  logger.info(
    {
      port,
      host: config.host,
      database: app.database.kind,
      verification_store: app.codeStore,
      ...(app.database.kind === "embedded" ? { data_dir: config.dataDir } : {}),
    },
    app.database.kind === "embedded"
      ? "customerms listening on the embedded PostgreSQL (PGlite): development only, ONE process only; set DATABASE_URL and REDIS_URL for anything else"
      : "customerms listening",
  );
  if (app.adminToken.source === "generated") {
    // Shown once, on stdout rather than in a log line: it is a secret. Development only.
    const url = `http://${config.host === "0.0.0.0" ? "127.0.0.1" : config.host}:${port}`;
    process.stdout.write(
      `\nGenerated a development admin token (kept in ${app.adminToken.path}; shown only now):\n\n  ${app.adminToken.value}\n\n` +
        `Create a tenant:\n  curl -s ${url}/finhub.tenant.v1.TenantService/CreateTenant -H 'content-type: application/json' ` +
        `-H 'authorization: Bearer ${app.adminToken.value}' -d '{"tenant":{"displayName":"Acme"}}'\n\n`,
    );
  } else if (app.adminToken.source === "file") {
    logger.info({ path: app.adminToken.path }, "using the development admin token kept in the data directory");
  }

  let stopping = false;
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    process.on(signal, () => {
      if (stopping) return;
      stopping = true;
      logger.info({ signal, grace_ms: config.shutdownGraceMs }, "shutting down: draining in-flight calls");
      app.close().then(
        () => {
          logger.info("stopped");
          process.exit(0);
        },
        (err: unknown) => {
          logger.error({ err: (err as Error).message }, "unclean shutdown");
          process.exit(1);
        },
      );
    });
  }
}

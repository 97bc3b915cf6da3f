// `npm run example:web`: builds the page with Vite, starts customerms in this process (buildApp,
// configured like `npm start`: with no configuration, the embedded PGlite and in-memory twins in
// ./.data), makes sure a demo tenant exists (created once with the admin token; its secret API key
// kept server-side in the data directory), and serves the page plus the tenant backend's
// session endpoint on EXAMPLE_WEB_PORT (default 5173). The page's origin is added to
// CUSTOMERMS_CORS_ORIGINS and to the tenant's cors_origins. Verification codes go wherever the
// notifier sends them: with no configuration, to this process's log.
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { build } from "vite";
import { buildApp } from "../../src/app.js";
import { loadConfig } from "../../src/config.js";
import { TenantService } from "../../gen/finhub/tenant/v1/tenant_service_pb.js";
import { startDemoServer } from "./server/demo-server.js";
import { createSessionMinter } from "./server/tenant-backend.js";

const here = fileURLToPath(new URL(".", import.meta.url));
const pagePort = Number(process.env.EXAMPLE_WEB_PORT ?? "5173");
const pageOrigin = `http://127.0.0.1:${pagePort}`;
/** The countries the demo tenant operates in. */
const DEMO_COUNTRIES = ["GB", "US", "DE", "FR", "NL", "IE", "ES", "IT", "SE", "PL", "CH", "CA", "AU", "SG"];

// Taken before the build: Vite sets process.env.NODE_ENV to "production" while it builds.
const env = { ...process.env };
await build({ configFile: join(here, "vite.config.ts") });
env.CUSTOMERMS_CORS_ORIGINS = [env.CUSTOMERMS_CORS_ORIGINS ?? "", pageOrigin].filter((s) => s !== "").join(",");
const config = loadConfig(env);
const app = await buildApp(config);
const apiPort = await app.listen();
const apiBaseUrl = `http://127.0.0.1:${apiPort}`;

interface DemoTenant {
  readonly tenantId: string;
  readonly apiKey: string;
}

/** The demo tenant: created on the first run, remembered in the data directory (0600). */
async function demoTenant(): Promise<DemoTenant> {
  const file = join(config.dataDir, "example-web-onboarding.json");
  const known = await readFile(file, "utf8").then((s) => JSON.parse(s) as DemoTenant & { origin?: string }, () => undefined);
  if (known && known.origin === pageOrigin) return known;
  const tenants = createClient(TenantService, createConnectTransport({ baseUrl: apiBaseUrl, httpVersion: "1.1" }));
  const res = await tenants.createTenant(
    { tenant: { displayName: `Web onboarding demo ${new Date().toISOString()}`, countriesOfOperation: DEMO_COUNTRIES, corsOrigins: [pageOrigin] } },
    { headers: { authorization: `Bearer ${app.adminToken.value}` } },
  );
  const created = { tenantId: res.tenant!.id, apiKey: res.apiKey, origin: pageOrigin };
  await writeFile(file, JSON.stringify(created, null, 2) + "\n", { mode: 0o600 });
  return created;
}

const tenant = await demoTenant();
const minter = createSessionMinter({ apiBaseUrl, apiKey: tenant.apiKey, pageOrigin });
const page = await startDemoServer({
  distDir: join(here, "dist"),
  port: pagePort,
  apiBaseUrl,
  mint: () => minter,
  onError: (err) => app.logger.warn({ err: err instanceof Error ? err.message : String(err) }, "example: could not mint a session token"),
});

process.stdout.write(
  `\nWeb onboarding example (tenant ${tenant.tenantId}):\n` +
    `  Connect:   ${page.origin}/\n` +
    `  gRPC-Web:  ${page.origin}/?transport=grpcweb\n` +
    `customerms answers on ${apiBaseUrl}; the page's origin is allowed by CORS.\n` +
    (config.notifier.email === "log" ? "Verification codes are written to this log (CUSTOMERMS_NOTIFIER=log).\n" : "") +
    "Ctrl-C stops both.\n\n",
);

let stopping = false;
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    void Promise.all([page.close(), app.close()]).then(
      () => process.exit(0),
      () => process.exit(1),
    );
  });
}

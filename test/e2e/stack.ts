// Everything one e2e file needs: the real service (buildApp on the run's PostgreSQL and Redis)
// with both notifiers pointed at an in-process webhook receiver (the test reads the codes there,
// as a customer reads their inbox), the example's page and tenant backend (the same modules
// `npm run example:web` runs), a tenant whose cors_origins is the page's origin and whose secret
// API key only the tenant backend holds, and headless Chromium driven by playwright-core.
import { randomBytes } from "node:crypto";
import { mkdir } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { chromium, type Browser } from "playwright-core";
import { vi } from "vitest";
import { TenantService } from "../../gen/finhub/tenant/v1/tenant_service_pb.js";
import { startServer, type TestServer } from "../support/app.js";
import { startWebhookReceiver, type WebhookReceiver } from "../support/receivers.js";
import { startDemoServer, type DemoServer } from "../../examples/web-onboarding/server/demo-server.js";
import { createSessionMinter, type SessionMinter } from "../../examples/web-onboarding/server/tenant-backend.js";

export const DIST_DIR = fileURLToPath(new URL("../../examples/web-onboarding/dist", import.meta.url));
export const ARTIFACTS_DIR = fileURLToPath(new URL("./artifacts", import.meta.url));
export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
export const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
];

export interface Stack {
  readonly server: TestServer;
  readonly webhook: WebhookReceiver;
  readonly page: DemoServer;
  readonly tenantId: string;
  /** The tenant's SECRET key: only the tenant backend (and the test, to check things) has it. */
  readonly apiKey: string;
  readonly browser: Browser;
  close(): Promise<void>;
}

export async function preflightStatus(baseUrl: string, origin: string, path = "/finhub.customer.v1.CustomerService/CreateCustomer"): Promise<number> {
  const res = await fetch(`${baseUrl}${path}`, {
    method: "OPTIONS",
    headers: {
      origin,
      "access-control-request-method": "POST",
      "access-control-request-headers": "authorization,content-type,connect-protocol-version",
    },
  });
  await res.body?.cancel();
  return res.status;
}

export async function startStack(countries: string[] = ["GB"]): Promise<Stack> {
  const cleanups: Array<() => Promise<unknown>> = [];
  const close = async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  };
  try {
    await mkdir(ARTIFACTS_DIR, { recursive: true });
    const webhook = await startWebhookReceiver("/hook");
    cleanups.push(() => webhook.close());
    const server = await startServer({
      CUSTOMERMS_NOTIFIER: "webhook",
      CUSTOMERMS_PHONE_NOTIFIER: "webhook",
      CUSTOMERMS_WEBHOOK_URL: webhook.url,
      CUSTOMERMS_WEBHOOK_SECRET: `whsec-${randomBytes(20).toString("hex")}`,
    });
    cleanups.push(() => server.close());

    // The page's origin is known once it listens; the tenant (and its minter) come after.
    let minter: SessionMinter | undefined;
    const page = await startDemoServer({
      distDir: DIST_DIR,
      apiBaseUrl: server.baseUrl,
      mint: () => {
        if (minter === undefined) throw new Error("the tenant is not set up yet");
        return minter;
      },
      onError: (err) => console.error("[e2e] tenant backend could not mint a session token:", err),
    });
    cleanups.push(() => page.close());

    const tenants = createClient(TenantService, createConnectTransport({ baseUrl: server.baseUrl, httpVersion: "1.1" }));
    const created = await tenants.createTenant(
      { tenant: { displayName: `e2e ${randomBytes(4).toString("hex")}`, countriesOfOperation: countries, corsOrigins: [page.origin] } },
      { headers: { authorization: `Bearer ${server.adminToken}` } },
    );
    const apiKey = created.apiKey;
    minter = createSessionMinter({ apiBaseUrl: server.baseUrl, apiKey, pageOrigin: page.origin });

    // The service refreshes the tenants' CORS origins in the background after a change: wait
    // (bounded, polling) until a preflight from the page's origin passes.
    await vi.waitFor(
      async () => {
        const status = await preflightStatus(server.baseUrl, page.origin);
        if (status !== 204) throw new Error(`a preflight from the page's origin answers ${status}`);
      },
      { timeout: 10_000, interval: 50 },
    );

    const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
    cleanups.push(() => browser.close());

    return {
      server,
      webhook,
      page,
      tenantId: created.tenant!.id,
      apiKey,
      browser,
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

/** The code the service sent on `channel` to `destination` (the n-th one, 1-based), as the
 * customer would read it. */
export async function codeFor(webhook: WebhookReceiver, channel: "email" | "phone", destination: string, n = 1): Promise<string> {
  const matches = (m: { json?: any }) => m.json?.channel === channel && m.json?.destination === destination;
  await webhook.waitForMessage((m) => matches(m) && webhook.messages.filter(matches).indexOf(m) === n - 1, 10_000);
  return String(webhook.messages.filter(matches)[n - 1]!.json.code);
}

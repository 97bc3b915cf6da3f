// What the browser's credential can and cannot do, seen from a real browser: CORS preflights
// pass from the tenant's configured origin and are refused from any other; the page's session
// token (cms_st_, minted by the tenant backend) cannot call TenantService nor read another
// customer; the same page served from an origin that is not configured cannot reach the API.
import { randomUUID } from "node:crypto";
import { join } from "node:path";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CustomerService } from "../../gen/finhub/customer/v1/customer_service_pb.js";
import { startDemoServer, type DemoServer } from "../../examples/web-onboarding/server/demo-server.js";
import { createSessionMinter } from "../../examples/web-onboarding/server/tenant-backend.js";
import { completeIndividual } from "../support/fixtures.js";
import { ARTIFACTS_DIR, DIST_DIR, preflightStatus, startStack, type Stack } from "./stack.js";

const WAIT = { timeout: 15_000 };
const FOREIGN_ORIGIN = "http://evil.127.0.0.1.example";

let stack: Stack;
let stray: DemoServer | undefined;
beforeAll(async () => {
  stack = await startStack(["GB"]);
});
afterAll(async () => {
  await stray?.close();
  await stack?.close();
});

const asTenant = () =>
  createClient(CustomerService, createConnectTransport({ baseUrl: stack.server.baseUrl, httpVersion: "1.1" }));
const tenantHeaders = () => ({ headers: { authorization: `Bearer ${stack.apiKey}` } });

describe("CORS preflight", () => {
  const paths = [
    "/finhub.customer.v1.CustomerService/CreateCustomer",
    "/finhub.customer.v1.VerificationService/VerifyEmail",
  ];

  it.each(paths)("%s: passes from the tenant's origin with the headers Connect and gRPC-Web need", async (path) => {
    const res = await fetch(`${stack.server.baseUrl}${path}`, {
      method: "OPTIONS",
      headers: {
        origin: stack.page.origin,
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization,content-type,connect-protocol-version,x-grpc-web,x-user-agent",
      },
    });
    await res.body?.cancel();
    expect(res.status).toBe(204);
    expect(res.headers.get("access-control-allow-origin")).toBe(stack.page.origin);
    const allowed = (res.headers.get("access-control-allow-headers") ?? "").toLowerCase().split(/,\s*/);
    expect(allowed).toEqual(expect.arrayContaining(["authorization", "content-type", "connect-protocol-version", "x-grpc-web"]));
  });

  it.each(paths)("%s: refused from any other origin, with no CORS headers", async (path) => {
    for (const origin of [FOREIGN_ORIGIN, stack.page.origin.replace("127.0.0.1", "localhost"), "null"]) {
      const res = await fetch(`${stack.server.baseUrl}${path}`, {
        method: "OPTIONS",
        headers: { origin, "access-control-request-method": "POST", "access-control-request-headers": "authorization,content-type" },
      });
      await res.body?.cancel();
      expect({ origin, status: res.status, allow: res.headers.get("access-control-allow-origin") }).toEqual({ origin, status: 403, allow: null });
    }
    expect(await preflightStatus(stack.server.baseUrl, stack.page.origin, path)).toBe(204);
  });
});

describe("the tenant backend's session endpoint", () => {
  it("mints only for its own page: another Origin (or none) gets 403 and no token", async () => {
    for (const origin of [FOREIGN_ORIGIN, undefined]) {
      const res = await fetch(`${stack.page.origin}/onboarding/session`, {
        method: "POST",
        headers: { "content-type": "application/json", ...(origin ? { origin } : {}) },
        body: "{}",
      });
      const body = await res.text();
      expect({ origin, status: res.status, token: body.includes("cms_st_") }).toEqual({ origin, status: 403, token: false });
    }
  });
});

describe("the page's session token, used from the browser", () => {
  it("is a cms_st_ token (never the API key), and cannot call TenantService nor read another customer", async () => {
    const { individual, ...rest } = completeIndividual("GB");
    const other = await asTenant().createCustomer({ customer: { ...rest, profile: { case: "individual", value: individual } } as never }, tenantHeaders());
    const otherId = other.customer!.id;

    const page = await (await stack.browser.newContext()).newPage();
    await page.goto(`${stack.page.origin}/`);
    await page.getByRole("heading", { level: 1, name: "Open an account" }).waitFor(WAIT);

    // In the page: get a session from the tenant backend, as the page does, then try what the
    // token must not be able to do — with the browser's own fetch, Origin and CORS.
    const result = await page.evaluate(
      async ({ otherId }) => {
        const session = (await (await fetch("/onboarding/session", { method: "POST", headers: { "content-type": "application/json" }, body: "{}" })).json()) as Record<string, string>;
        const call = async (path: string, body: object) => {
          const res = await fetch(`${session.apiBaseUrl}${path}`, {
            method: "POST",
            headers: { "content-type": "application/json", "connect-protocol-version": "1", authorization: `Bearer ${session.sessionToken}` },
            body: JSON.stringify(body),
          });
          const json = (await res.json()) as { code?: string; details?: Array<{ type: string; debug?: { reason?: string } }> };
          return { status: res.status, code: json.code ?? "ok", reason: json.details?.find((d) => d.type === "google.rpc.ErrorInfo")?.debug?.reason ?? "" };
        };
        return {
          keys: Object.keys(session).sort(),
          tokenPrefix: String(session.sessionToken).slice(0, 7),
          listTenants: await call("/finhub.tenant.v1.TenantService/ListTenants", {}),
          getTenant: await call("/finhub.tenant.v1.TenantService/GetTenant", { id: otherId }),
          otherCustomer: await call("/finhub.customer.v1.CustomerService/GetCustomer", { id: otherId }),
          listCustomers: await call("/finhub.customer.v1.CustomerService/ListCustomers", {}),
        };
      },
      { otherId },
    );
    expect(result).toEqual({
      keys: ["apiBaseUrl", "expireTime", "sessionToken"],
      tokenPrefix: "cms_st_",
      listTenants: { status: 403, code: "permission_denied", reason: "ADMIN_ONLY" },
      getTenant: { status: 403, code: "permission_denied", reason: "ADMIN_ONLY" },
      otherCustomer: { status: 404, code: "not_found", reason: "CUSTOMER_NOT_FOUND" },
      listCustomers: { status: 403, code: "permission_denied", reason: "SESSION_TOKEN_NOT_ALLOWED" },
    });
    expect(JSON.stringify(result)).not.toContain(stack.apiKey);
    await page.context().close();
  });

  it("the same page served from an origin the tenant did not configure cannot reach the API, and nothing is created", async () => {
    // A second copy of the page and tenant backend on another port: its origin is not in the
    // tenant's cors_origins (nor in CUSTOMERMS_CORS_ORIGINS).
    let strayOrigin = "";
    stray = await startDemoServer({
      distDir: DIST_DIR,
      apiBaseUrl: stack.server.baseUrl,
      mint: () => createSessionMinter({ apiBaseUrl: stack.server.baseUrl, apiKey: stack.apiKey, pageOrigin: strayOrigin }),
    });
    strayOrigin = stray.origin;
    expect(await preflightStatus(stack.server.baseUrl, strayOrigin)).toBe(403);

    const page = await (await stack.browser.newContext()).newPage();
    await page.goto(`${strayOrigin}/?transport=connect`);
    await page.getByRole("heading", { level: 1, name: "Open an account" }).waitFor(WAIT);
    const email = `stray.${randomUUID()}@example.com`;
    await page.getByLabel("Given name", { exact: true }).fill("Mallory");
    await page.getByLabel("Family name", { exact: true }).fill("Stray");
    await page.getByLabel("Email", { exact: true }).fill(email);
    await page.getByLabel("Mobile phone", { exact: true }).fill("+447911123999");
    await page.getByLabel("Country", { exact: true }).selectOption("GB");
    await page.getByRole("button", { name: "Create account" }).click();

    const alert = page.getByRole("alert");
    await alert.filter({ hasText: "We could not reach the service" }).waitFor(WAIT);
    await page.screenshot({ path: join(ARTIFACTS_DIR, "foreign-origin-refused.png"), fullPage: true });
    expect(await page.getByRole("heading", { level: 1, name: "Open an account" }).count()).toBe(1);

    const found = await asTenant().listCustomers({ email }, tenantHeaders());
    expect(found.customers).toHaveLength(0);
    await page.context().close();
  });
});

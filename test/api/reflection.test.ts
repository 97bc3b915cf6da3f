// Server reflection, checked with the real `buf curl` (DESIGN §1: engineers debug through
// reflection). Nothing here reads proto/ or gen/: buf learns every schema from the server.
import { execFile } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startServer, type TestServer } from "../support/app.js";

const run = promisify(execFile);
const BUF = join(dirname(fileURLToPath(import.meta.url)), "../../node_modules/.bin/buf");

let server: TestServer;
beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => {
  await server?.close();
});

interface BufResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `buf curl <args>`; never throws on a non-zero exit (the result says how it ended). */
async function bufCurl(args: string[]): Promise<BufResult> {
  try {
    const { stdout, stderr } = await run(BUF, ["curl", ...args], {
      timeout: 60_000,
      // buf keeps a module cache; keep it out of the user's home and away from other runs.
      env: { ...process.env, BUF_CACHE_DIR: join(process.env.TMPDIR ?? "/tmp", "customerms-test-buf-cache") },
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: unknown; stdout?: string; stderr?: string; message: string };
    return { code: typeof e.code === "number" ? e.code : -1, stdout: e.stdout ?? "", stderr: e.stderr ?? e.message };
  }
}

/** A call that must succeed; returns the parsed JSON response. */
async function bufCall(path: string, token: string, body: object): Promise<any> {
  const r = await bufCurl([
    "--protocol", "grpc",
    "--http2-prior-knowledge",
    "-H", `authorization: Bearer ${token}`,
    "-d", JSON.stringify(body),
    `${server.baseUrl}${path}`,
  ]);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout);
}

const lines = (s: string) => s.split("\n").map((l) => l.trim()).filter((l) => l !== "");

const SERVICES = [
  "finhub.tenant.v1.TenantService",
  "finhub.customer.v1.CustomerService",
  "grpc.health.v1.Health",
  "grpc.reflection.v1.ServerReflection",
  "grpc.reflection.v1alpha.ServerReflection",
];

describe("server reflection through buf curl", () => {
  it("lists every service (reflection v1)", async () => {
    const r = await bufCurl(["--protocol", "grpc", "--http2-prior-knowledge", "--list-services", server.baseUrl]);
    expect(r.code, r.stderr).toBe(0);
    expect(lines(r.stdout)).toEqual(expect.arrayContaining(SERVICES));
  });

  it("lists every service with reflection v1alpha", async () => {
    const r = await bufCurl([
      "--protocol", "grpc",
      "--http2-prior-knowledge",
      "--reflect-protocol", "grpc-v1alpha",
      "--list-services",
      server.baseUrl,
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(lines(r.stdout)).toEqual(expect.arrayContaining(SERVICES));
  });

  it("lists the methods, resolving each service's file and its imports", async () => {
    const r = await bufCurl(["--protocol", "grpc", "--http2-prior-knowledge", "--list-methods", server.baseUrl]);
    expect(r.code, r.stderr).toBe(0);
    expect(lines(r.stdout)).toEqual(
      expect.arrayContaining([
        "finhub.customer.v1.CustomerService/CreateCustomer",
        "finhub.customer.v1.CustomerService/GetCustomer",
        "finhub.tenant.v1.TenantService/CreateTenant",
        "grpc.health.v1.Health/Check",
        "grpc.health.v1.Health/Watch",
      ]),
    );
  });

  it("calls TenantService and CustomerService with nothing but reflection", async () => {
    const created = await bufCall("/finhub.tenant.v1.TenantService/CreateTenant", server.adminToken, {
      tenant: { displayName: "Reflected" },
    });
    expect(created.tenant.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(created.tenant.displayName).toBe("Reflected");
    expect(typeof created.apiKey).toBe("string");
    expect(created.apiKey.length).toBeGreaterThan(16);

    const customer = await bufCall("/finhub.customer.v1.CustomerService/CreateCustomer", created.apiKey, {
      customer: { individual: { givenName: "Grace", familyName: "Hopper" }, email: "Grace@Example.com", countryCode: "US" },
    });
    expect(customer.customer.email).toBe("grace@example.com");
    expect(customer.customer.status).toBe("CUSTOMER_STATUS_PENDING");
    expect(customer.customer.type).toBe("CUSTOMER_TYPE_INDIVIDUAL");
    expect(customer.customer.etag).toBe("1");

    const got = await bufCall("/finhub.customer.v1.CustomerService/GetCustomer", created.apiKey, { id: customer.customer.id });
    expect(got.customer).toEqual(customer.customer);
  });

  it("reports an RPC error from a reflected call (unauthenticated without a key)", async () => {
    const r = await bufCurl([
      "--protocol", "grpc",
      "--http2-prior-knowledge",
      "-d", JSON.stringify({ id: "00000000-0000-4000-8000-000000000000" }),
      `${server.baseUrl}/finhub.customer.v1.CustomerService/GetCustomer`,
    ]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/unauthenticated/i);
  });
});

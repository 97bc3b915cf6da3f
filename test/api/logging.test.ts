// Logs: one JSON line per RPC (method, code, duration, tenant) and no personal data, keys or
// tokens anywhere in them, from a real server handling real calls.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bearer, createTenant, startServer, type TestServer } from "../support/app.js";
import { grpcClients, metadata, unary, unaryError } from "../support/grpc.js";

const lines: string[] = [];
let server: TestServer;

beforeAll(async () => {
  server = await startServer({ LOG_LEVEL: "info" }, { write: (line) => void lines.push(line) });
});
afterAll(async () => {
  await server?.close();
});

describe("RPC logs", () => {
  it("log each call once, with its outcome and tenant, and never the payload's secrets or PII", async () => {
    const tenant = await createTenant(server, "Logging Tenant Ltd");
    const c = grpcClients(server.port);
    const md = metadata(bearer(tenant.apiKey));
    const pii = {
      email: "grace.hopper.logtest@example.com",
      phone: "+447911123457",
      given: "Gracelogtest",
      family: "Hopperlogtest",
    };
    const created = await unary(
      c.customers,
      "createCustomer",
      {
        customer: {
          individual: { givenName: pii.given, familyName: pii.family },
          email: pii.email,
          phoneNumber: pii.phone,
          countryCode: "GB",
        },
      },
      md,
    );
    await unary(c.customers, "getCustomer", { id: created.customer.id }, md);
    const bad = await unaryError(c.customers, "createCustomer", { customer: { individual: { givenName: pii.given, familyName: "" }, email: pii.email, countryCode: "GB" } }, md);
    expect(bad.code).toBe(3);
    c.close();

    const entries = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    const rpcs = entries.filter((e) => e.msg === "rpc");
    const customerCalls = rpcs.filter((e) => String(e.rpc).startsWith("finhub.customer.v1.CustomerService/"));
    expect(customerCalls.map((e) => [e.rpc, e.grpc_code])).toEqual([
      ["finhub.customer.v1.CustomerService/CreateCustomer", "OK"],
      ["finhub.customer.v1.CustomerService/GetCustomer", "OK"],
      ["finhub.customer.v1.CustomerService/CreateCustomer", "InvalidArgument"],
    ]);
    for (const e of customerCalls) {
      expect(e.tenant_id).toBe(tenant.id);
      expect(typeof e.duration_ms).toBe("number");
      expect(e.level).toBe("info");
    }
    expect(rpcs.filter((e) => e.rpc === "finhub.tenant.v1.TenantService/CreateTenant" && e.principal === "admin")).toHaveLength(1);

    const all = lines.join("\n");
    for (const secret of [pii.email, pii.phone, pii.given, pii.family, tenant.apiKey, server.adminToken, "Logging Tenant Ltd"]) {
      expect(all).not.toContain(secret);
    }
  });
});

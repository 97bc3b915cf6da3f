import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bearer, createTenant, startServer, type TestServer } from "../support/app.js";
import { details, grpcClients, metadata, unary, unaryError } from "../support/grpc.js";

let server: TestServer;
beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => {
  await server?.close();
});

describe("smoke", () => {
  it("creates and gets a customer with grpc-js", async () => {
    const tenant = await createTenant(server);
    const c = grpcClients(server.port);
    const md = metadata(bearer(tenant.apiKey));
    const created = await unary(c.customers, "createCustomer", {
      customer: { individual: { givenName: "Ada", familyName: "Lovelace" }, email: "ADA@example.com", countryCode: "GB" },
    }, md);
    expect(created.customer.email).toBe("ada@example.com");
    const got = await unary(c.customers, "getCustomer", { id: created.customer.id }, md);
    expect(got.customer.id).toBe(created.customer.id);
    const err = await unaryError(c.customers, "createCustomer", { customer: { individual: { givenName: "", familyName: "x" }, email: "x", countryCode: "GB" } }, md);
    expect(err.code).toBe(3);
    const d = details(err);
    expect(d.errorInfo?.reason).toBe("INVALID_ARGUMENT");
    expect(d.violations.map((v) => v.field)).toEqual(["customer.individual.given_name", "customer.email"]);
    c.close();
  });
});

// Authentication and tenant isolation (acceptance: "Wrong/missing/revoked key → UNAUTHENTICATED;
// tenant A reading tenant B's customer → NOT_FOUND"). The tenant always comes from the API key.
import { randomBytes, randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { CustomerService } from "../../gen/finhub/customer/v1/customer_service_pb.js";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { bearer, createTenant, type TestServer } from "../support/app.js";
import { withServer } from "../support/file-server.js";
import { details, grpc, grpcClients, metadata, unary, unaryError } from "../support/grpc.js";

const DOMAIN = "customerms.finhub";

let server: TestServer;
let c: ReturnType<typeof grpcClients>;

withServer({}, (s, clients) => {
  server = s;
  c = clients;
});

function newCustomer(suffix = randomUUID()) {
  return {
    customer: {
      individual: { givenName: "Grace", familyName: "Hopper" },
      email: `grace.${suffix}@example.com`,
      countryCode: "US",
    },
  };
}

/** Asserts the gRPC status code and the ErrorInfo (domain + reason) of an error. */
function expectError(err: grpc.ServiceError, code: number, reason: string): void {
  expect({ code: err.code, reason: details(err).errorInfo?.reason, domain: details(err).errorInfo?.domain }).toEqual({
    code,
    reason,
    domain: DOMAIN,
  });
}

const admin = () => metadata(bearer(server.adminToken));
/** A syntactically valid API key that was never issued: "cms_" + 43 base64url characters. */
const unknownKey = () => `cms_${randomBytes(32).toString("base64url")}`;

describe("CustomerService credentials", () => {
  it("refuses a call without authorization: UNAUTHENTICATED, CREDENTIALS_MISSING", async () => {
    const err = await unaryError(c.customers, "getCustomer", { id: randomUUID() });
    expectError(err, grpc.status.UNAUTHENTICATED, "CREDENTIALS_MISSING");
  });

  it("refuses a non-Bearer scheme: UNAUTHENTICATED, CREDENTIALS_MALFORMED", async () => {
    const err = await unaryError(c.customers, "getCustomer", { id: randomUUID() }, metadata({ authorization: "Basic xyz" }));
    expectError(err, grpc.status.UNAUTHENTICATED, "CREDENTIALS_MALFORMED");
  });

  it("refuses a well-formed key that was never issued: UNAUTHENTICATED, CREDENTIALS_INVALID", async () => {
    const key = unknownKey();
    expect(key).toHaveLength(47);
    const err = await unaryError(c.customers, "createCustomer", newCustomer(), metadata(bearer(key)));
    expectError(err, grpc.status.UNAUTHENTICATED, "CREDENTIALS_INVALID");
  });

  it("refuses a garbage bearer token: UNAUTHENTICATED, CREDENTIALS_INVALID", async () => {
    const err = await unaryError(c.customers, "getCustomer", { id: randomUUID() }, metadata(bearer("garbage-token")));
    expectError(err, grpc.status.UNAUTHENTICATED, "CREDENTIALS_INVALID");
  });

  it("checks credentials before validating the request (an anonymous caller learns nothing)", async () => {
    const err = await unaryError(c.customers, "getCustomer", { id: "not-a-uuid" });
    expectError(err, grpc.status.UNAUTHENTICATED, "CREDENTIALS_MISSING");
    expect(details(err).violations).toEqual([]);
  });

  it("answers UNAUTHENTICATED over Connect too, with the ErrorInfo", async () => {
    const client = createClient(CustomerService, createConnectTransport({ baseUrl: server.baseUrl, httpVersion: "1.1" }));
    const err = await client
      .getCustomer({ id: randomUUID() }, { headers: bearer(unknownKey()) })
      .then(() => undefined, (e: unknown) => ConnectError.from(e));
    expect(err?.code).toBe(Code.Unauthenticated);
    const info = err!.findDetails(ErrorInfoSchema);
    expect(info.map((i) => [i.domain, i.reason])).toEqual([[DOMAIN, "CREDENTIALS_INVALID"]]);
  });
});

describe("revoked API keys", () => {
  it("a revoked key is refused at once; the tenant's other key keeps working; revoking again keeps the first revoke_time", async () => {
    const tenant = await createTenant(server);
    const second = await unary(c.tenants, "createApiKey", { tenantId: tenant.id, key: { displayName: "rotation" } }, admin());
    expect(second.apiKey).toMatch(/^cms_[A-Za-z0-9_-]{43}$/);
    expect(second.key.tenantId).toBe(tenant.id);
    expect(second.key.revokeTime).toBeNull();
    const secondMd = metadata(bearer(second.apiKey));

    // The new key works (and is now in the server's key cache).
    const created = await unary(c.customers, "createCustomer", newCustomer(), secondMd);
    expect((await unary(c.customers, "getCustomer", { id: created.customer.id }, secondMd)).customer.id).toBe(
      created.customer.id,
    );

    const revoked = await unary(c.tenants, "revokeApiKey", { tenantId: tenant.id, apiKeyId: second.key.id }, admin());
    expect(revoked.key.id).toBe(second.key.id);
    expect(revoked.key.revokeTime).not.toBeNull();
    expect(Number(revoked.key.revokeTime.seconds)).toBeGreaterThan(0);

    // Same server: the cache entry was dropped on revoke, so the very next call is refused.
    const err = await unaryError(c.customers, "getCustomer", { id: created.customer.id }, secondMd);
    expectError(err, grpc.status.UNAUTHENTICATED, "CREDENTIALS_INVALID");
    const err2 = await unaryError(c.customers, "createCustomer", newCustomer(), secondMd);
    expectError(err2, grpc.status.UNAUTHENTICATED, "CREDENTIALS_INVALID");

    // The tenant's first key is untouched and sees the customer made with the revoked key.
    const got = await unary(c.customers, "getCustomer", { id: created.customer.id }, metadata(bearer(tenant.apiKey)));
    expect(got.customer.id).toBe(created.customer.id);

    // Revoking again succeeds and keeps the first revoke_time.
    const again = await unary(c.tenants, "revokeApiKey", { tenantId: tenant.id, apiKeyId: second.key.id }, admin());
    expect(again.key.revokeTime).toEqual(revoked.key.revokeTime);
    expect(again.key.id).toBe(second.key.id);
  });

  it("revoking a tenant's key with another tenant's id: NOT_FOUND, API_KEY_NOT_FOUND, and the key still works", async () => {
    const a = await createTenant(server);
    const b = await createTenant(server);
    const err = await unaryError(c.tenants, "revokeApiKey", { tenantId: b.id, apiKeyId: a.apiKeyId }, admin());
    expectError(err, grpc.status.NOT_FOUND, "API_KEY_NOT_FOUND");
    // Nothing was revoked.
    const created = await unary(c.customers, "createCustomer", newCustomer(), metadata(bearer(a.apiKey)));
    expect(created.customer.id).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("revoking an unknown key: NOT_FOUND, API_KEY_NOT_FOUND", async () => {
    const a = await createTenant(server);
    const err = await unaryError(c.tenants, "revokeApiKey", { tenantId: a.id, apiKeyId: randomUUID() }, admin());
    expectError(err, grpc.status.NOT_FOUND, "API_KEY_NOT_FOUND");
  });
});

describe("audiences", () => {
  it("the admin token cannot call CustomerService: PERMISSION_DENIED, TENANT_KEY_REQUIRED", async () => {
    await createTenant(server);
    const err = await unaryError(c.customers, "createCustomer", newCustomer(), admin());
    expectError(err, grpc.status.PERMISSION_DENIED, "TENANT_KEY_REQUIRED");
  });

  it("a tenant API key cannot call TenantService: PERMISSION_DENIED, ADMIN_ONLY", async () => {
    const tenant = await createTenant(server);
    const md = metadata(bearer(tenant.apiKey));
    const err = await unaryError(c.tenants, "getTenant", { id: tenant.id }, md);
    expectError(err, grpc.status.PERMISSION_DENIED, "ADMIN_ONLY");
    const err2 = await unaryError(c.tenants, "createApiKey", { tenantId: tenant.id }, md);
    expectError(err2, grpc.status.PERMISSION_DENIED, "ADMIN_ONLY");
  });

  it("a wrong admin token: UNAUTHENTICATED, CREDENTIALS_INVALID; none: CREDENTIALS_MISSING", async () => {
    const tenant = await createTenant(server);
    const err = await unaryError(c.tenants, "getTenant", { id: tenant.id }, metadata(bearer(`${server.adminToken}x`)));
    expectError(err, grpc.status.UNAUTHENTICATED, "CREDENTIALS_INVALID");
    const err2 = await unaryError(c.tenants, "listTenants", {}, metadata(bearer(unknownKey())));
    expectError(err2, grpc.status.UNAUTHENTICATED, "CREDENTIALS_INVALID");
    const err3 = await unaryError(c.tenants, "getTenant", { id: tenant.id });
    expectError(err3, grpc.status.UNAUTHENTICATED, "CREDENTIALS_MISSING");
  });
});

describe("tenant isolation", () => {
  it("the tenant comes from the key: a customer created with tenant A's key is readable by A", async () => {
    const a = await createTenant(server);
    const md = metadata(bearer(a.apiKey));
    const created = await unary(c.customers, "createCustomer", newCustomer(), md);
    const got = await unary(c.customers, "getCustomer", { id: created.customer.id }, md);
    expect(got.customer).toEqual(created.customer);
    // Neither the request nor the resource has a tenant field to spoof.
    expect(Object.keys(created.customer)).not.toContain("tenantId");
  });

  it("tenant B reading tenant A's customer gets exactly the NOT_FOUND of an id that does not exist", async () => {
    const a = await createTenant(server);
    const b = await createTenant(server);
    const created = await unary(c.customers, "createCustomer", newCustomer(), metadata(bearer(a.apiKey)));
    const id = created.customer.id as string;
    const bMd = metadata(bearer(b.apiKey));

    const foreign = await unaryError(c.customers, "getCustomer", { id }, bMd);
    const missingId = randomUUID();
    const missing = await unaryError(c.customers, "getCustomer", { id: missingId }, bMd);

    expectError(foreign, grpc.status.NOT_FOUND, "CUSTOMER_NOT_FOUND");
    expectError(missing, grpc.status.NOT_FOUND, "CUSTOMER_NOT_FOUND");
    const shape = (err: grpc.ServiceError, theId: string) => ({
      code: err.code,
      details: err.details.replaceAll(theId, "<id>"),
      errorInfo: details(err).errorInfo,
      types: details(err).types,
    });
    expect(shape(foreign, id)).toEqual(shape(missing, missingId));
    // The message does not leak the owner.
    expect(foreign.details).not.toContain(a.id);

    // A still reads its own customer.
    const got = await unary(c.customers, "getCustomer", { id }, metadata(bearer(a.apiKey)));
    expect(got.customer.id).toBe(id);
  });
});

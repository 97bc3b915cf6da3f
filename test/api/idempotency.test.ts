// Idempotent creates with a caller-chosen request_id (AIP-155): retries return the first result,
// the same id with another body is refused, concurrent duplicates write once.
import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { bearer, createTenant, sql, type TestServer, type TestTenant } from "../support/app.js";
import { withServer } from "../support/file-server.js";
import { details, grpc, grpcClients, metadata, unary, unaryError } from "../support/grpc.js";

const DOMAIN = "customerms.finhub";

let server: TestServer;
let c: ReturnType<typeof grpcClients>;

withServer({}, (s, clients) => {
  server = s;
  c = clients;
});

const admin = () => metadata(bearer(server.adminToken));

function customerBody(email = `ida.${randomUUID()}@example.com`) {
  return { individual: { givenName: "Ida", familyName: "Noddack" }, email, countryCode: "DE" };
}

async function customerRows(tenant: TestTenant): Promise<number> {
  const rows = await sql<{ n: number }>(server.databaseUrl, "select count(*)::int as n from customers where tenant_id = $1", [
    tenant.id,
  ]);
  return rows[0]!.n;
}

function expectError(err: grpc.ServiceError, code: number, reason: string): void {
  const info = details(err).errorInfo;
  expect({ code: err.code, reason: info?.reason, domain: info?.domain }).toEqual({ code, reason, domain: DOMAIN });
}

describe("CreateCustomer with request_id", () => {
  it("a retry with the same body returns the identical response and writes one row", async () => {
    const tenant = await createTenant(server);
    const md = metadata(bearer(tenant.apiKey));
    const request = { customer: customerBody(), requestId: randomUUID() };
    const first = await unary(c.customers, "createCustomer", request, md);
    const retry = await unary(c.customers, "createCustomer", request, md);
    expect(retry).toEqual(first);
    expect(retry.customer.id).toBe(first.customer.id);
    expect(retry.customer.etag).toBe(first.customer.etag);
    expect(retry.customer.createTime).toEqual(first.customer.createTime);
    expect(await customerRows(tenant)).toBe(1);
  });

  it("the request_id is compared case-insensitively (it is a UUID)", async () => {
    const tenant = await createTenant(server);
    const md = metadata(bearer(tenant.apiKey));
    const requestId = randomUUID();
    const body = customerBody();
    const first = await unary(c.customers, "createCustomer", { customer: body, requestId }, md);
    const retry = await unary(c.customers, "createCustomer", { customer: body, requestId: requestId.toUpperCase() }, md);
    expect(retry).toEqual(first);
    expect(await customerRows(tenant)).toBe(1);
  });

  it("the same request_id with a different body: ALREADY_EXISTS, REQUEST_ID_REUSED, nothing written", async () => {
    const tenant = await createTenant(server);
    const md = metadata(bearer(tenant.apiKey));
    const requestId = randomUUID();
    const first = await unary(c.customers, "createCustomer", { customer: customerBody(), requestId }, md);
    const err = await unaryError(c.customers, "createCustomer", { customer: customerBody(), requestId }, md);
    expectError(err, grpc.status.ALREADY_EXISTS, "REQUEST_ID_REUSED");
    expect(await customerRows(tenant)).toBe(1);
    // The first customer is unaffected.
    const got = await unary(c.customers, "getCustomer", { id: first.customer.id }, md);
    expect(got.customer).toEqual(first.customer);
  });

  it("a request without request_id is not deduplicated", async () => {
    const tenant = await createTenant(server);
    const md = metadata(bearer(tenant.apiKey));
    const body = customerBody();
    const a = await unary(c.customers, "createCustomer", { customer: body }, md);
    const b = await unary(c.customers, "createCustomer", { customer: { ...body, email: `other.${randomUUID()}@example.com` } }, md);
    expect(a.customer.id).not.toBe(b.customer.id);
    expect(await customerRows(tenant)).toBe(2);
  });

  it("the same request_id used by another tenant is independent", async () => {
    const a = await createTenant(server);
    const b = await createTenant(server);
    const requestId = randomUUID();
    const body = customerBody();
    const fromA = await unary(c.customers, "createCustomer", { customer: body, requestId }, metadata(bearer(a.apiKey)));
    const fromB = await unary(c.customers, "createCustomer", { customer: body, requestId }, metadata(bearer(b.apiKey)));
    expect(fromB.customer.id).not.toBe(fromA.customer.id);
    expect(await customerRows(a)).toBe(1);
    expect(await customerRows(b)).toBe(1);
    // Each tenant sees only its own.
    const err = await unaryError(c.customers, "getCustomer", { id: fromA.customer.id }, metadata(bearer(b.apiKey)));
    expectError(err, grpc.status.NOT_FOUND, "CUSTOMER_NOT_FOUND");
    // And B with a different body under the same id is refused for B, not for A.
    const reused = await unaryError(c.customers, "createCustomer", { customer: customerBody(), requestId }, metadata(bearer(b.apiKey)));
    expectError(reused, grpc.status.ALREADY_EXISTS, "REQUEST_ID_REUSED");
  });

  it("20 concurrent calls with one request_id write exactly one row; each reply is that customer or ABORTED", async () => {
    const tenant = await createTenant(server);
    const md = metadata(bearer(tenant.apiKey));
    const request = { customer: customerBody(), requestId: randomUUID() };
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, () => unary(c.customers, "createCustomer", request, md)),
    );
    const ok = results.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
    const failed = results.flatMap((r) => (r.status === "rejected" ? [r.reason as grpc.ServiceError] : []));
    expect(ok.length).toBeGreaterThanOrEqual(1);
    for (const r of ok) expect(r).toEqual(ok[0]);
    for (const e of failed) expect({ code: e.code, domain: details(e).errorInfo?.domain }).toEqual({ code: grpc.status.ABORTED, domain: DOMAIN });
    expect(await customerRows(tenant)).toBe(1);
    // A later retry replays the same customer.
    const retry = await unary(c.customers, "createCustomer", request, md);
    expect(retry).toEqual(ok[0]);
  });
});

describe("TenantService creates with request_id", () => {
  it("CreateTenant: a retry returns the same tenant and key with an EMPTY api_key; the first key works", async () => {
    const request = { tenant: { displayName: `idem ${randomUUID()}` }, requestId: randomUUID() };
    const first = await unary(c.tenants, "createTenant", request, admin());
    expect(first.apiKey).toMatch(/^cms_/);
    const retry = await unary(c.tenants, "createTenant", request, admin());
    expect(retry.apiKey).toBe("");
    expect(retry.tenant).toEqual(first.tenant);
    expect(retry.key).toEqual(first.key);

    const tenants = await sql<{ n: number }>(server.databaseUrl, "select count(*)::int as n from tenants where display_name = $1", [
      request.tenant.displayName,
    ]);
    expect(tenants[0]!.n).toBe(1);
    const keys = await sql<{ n: number }>(server.databaseUrl, "select count(*)::int as n from api_keys where tenant_id = $1", [
      first.tenant.id,
    ]);
    expect(keys[0]!.n).toBe(1);
    // The idempotency record does not hold the secret either.
    const records = await sql<{ response: Buffer }>(
      server.databaseUrl,
      "select response from idempotency_records where request_id = $1",
      [request.requestId],
    );
    expect(records).toHaveLength(1);
    expect(records[0]!.response.includes(Buffer.from(first.apiKey))).toBe(false);

    const created = await unary(c.customers, "createCustomer", { customer: customerBody() }, metadata(bearer(first.apiKey)));
    expect(created.customer.id).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("CreateTenant: the same request_id with another display_name: ALREADY_EXISTS, REQUEST_ID_REUSED", async () => {
    const requestId = randomUUID();
    const displayName = `idem ${randomUUID()}`;
    await unary(c.tenants, "createTenant", { tenant: { displayName }, requestId }, admin());
    const err = await unaryError(c.tenants, "createTenant", { tenant: { displayName: `${displayName} 2` }, requestId }, admin());
    expectError(err, grpc.status.ALREADY_EXISTS, "REQUEST_ID_REUSED");
    const rows = await sql<{ n: number }>(server.databaseUrl, "select count(*)::int as n from tenants where display_name like $1", [
      `${displayName}%`,
    ]);
    expect(rows[0]!.n).toBe(1);
  });

  it("CreateApiKey: a retry returns the same key with an EMPTY api_key; the first secret works", async () => {
    const tenant = await createTenant(server);
    const request = { tenantId: tenant.id, key: { displayName: "backend" }, requestId: randomUUID() };
    const first = await unary(c.tenants, "createApiKey", request, admin());
    expect(first.apiKey).toMatch(/^cms_/);
    const retry = await unary(c.tenants, "createApiKey", request, admin());
    expect(retry.apiKey).toBe("");
    expect(retry.key).toEqual(first.key);
    const keys = await sql<{ n: number }>(server.databaseUrl, "select count(*)::int as n from api_keys where tenant_id = $1", [tenant.id]);
    expect(keys[0]!.n).toBe(2); // the initial key + this one

    const created = await unary(c.customers, "createCustomer", { customer: customerBody() }, metadata(bearer(first.apiKey)));
    expect(created.customer.id).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("CreateApiKey: the same request_id for another tenant, or reused from CreateTenant: REQUEST_ID_REUSED", async () => {
    const a = await createTenant(server);
    const b = await createTenant(server);
    const requestId = randomUUID();
    await unary(c.tenants, "createApiKey", { tenantId: a.id, requestId }, admin());
    const err = await unaryError(c.tenants, "createApiKey", { tenantId: b.id, requestId }, admin());
    expectError(err, grpc.status.ALREADY_EXISTS, "REQUEST_ID_REUSED");

    const tenantRequestId = randomUUID();
    await unary(c.tenants, "createTenant", { tenant: { displayName: `idem ${randomUUID()}` }, requestId: tenantRequestId }, admin());
    const err2 = await unaryError(c.tenants, "createApiKey", { tenantId: a.id, requestId: tenantRequestId }, admin());
    expectError(err2, grpc.status.ALREADY_EXISTS, "REQUEST_ID_REUSED");

    const keysOfB = await sql<{ n: number }>(server.databaseUrl, "select count(*)::int as n from api_keys where tenant_id = $1", [b.id]);
    expect(keysOfB[0]!.n).toBe(1);
  });
});

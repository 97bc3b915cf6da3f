// TenantService: tenants, their API keys (secret shown once, stored only as a SHA-256 hash), and
// ListTenants paging. Other files create tenants concurrently in the same database: paging
// assertions are about this file's own tenants only.
import { createHash, randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { bearer, createTenant, sql, type TestServer } from "../support/app.js";
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

function expectError(err: grpc.ServiceError, code: number, reason: string): ReturnType<typeof details> {
  const d = details(err);
  expect({ code: err.code, reason: d.errorInfo?.reason, domain: d.errorInfo?.domain }).toEqual({ code, reason, domain: DOMAIN });
  return d;
}

const sha256Hex = (s: string) => createHash("sha256").update(s).digest("hex");

describe("CreateTenant", () => {
  it("creates a tenant with etag 1 and a first API key whose secret is shown once and stored only hashed", async () => {
    const displayName = `Acme Payments ${randomUUID()}`;
    const res = await unary(c.tenants, "createTenant", { tenant: { displayName } }, admin());
    expect(res.tenant.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(res.tenant.displayName).toBe(displayName);
    expect(res.tenant.etag).toBe("1");
    expect(Number(res.tenant.createTime.seconds)).toBeGreaterThan(0);
    expect(res.tenant.updateTime).toEqual(res.tenant.createTime);

    const secret: string = res.apiKey;
    expect(secret.startsWith("cms_")).toBe(true);
    expect(secret).toHaveLength(47);
    expect(secret).toMatch(/^cms_[A-Za-z0-9_-]{43}$/);
    expect(res.key.prefix).toBe(secret.slice(0, 12));
    expect(res.key.tenantId).toBe(res.tenant.id);
    expect(res.key.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(res.key.revokeTime).toBeNull();

    const rows = await sql(server.databaseUrl, "select * from api_keys where id = $1", [res.key.id]);
    expect(rows).toHaveLength(1);
    const row = rows[0]!;
    const secretPart = secret.slice(12); // what the displayed prefix does not reveal
    for (const [column, value] of Object.entries(row)) {
      const text = value instanceof Date ? value.toISOString() : String(value);
      expect(text, `column ${column}`).not.toContain(secretPart);
    }
    expect(row.key_hash).toBe(sha256Hex(secret));
    expect(row.prefix).toBe(secret.slice(0, 12));
    expect(row.tenant_id).toBe(res.tenant.id);

    // The secret authenticates as that tenant.
    const created = await unary(
      c.customers,
      "createCustomer",
      { customer: { individual: { givenName: "Ann", familyName: "Lee" }, email: "ann@example.com", countryCode: "GB" } },
      metadata(bearer(secret)),
    );
    const stored = await sql(server.databaseUrl, "select tenant_id from customers where id = $1", [created.customer.id]);
    expect(stored).toEqual([{ tenant_id: res.tenant.id }]);
  });

  it("ignores output-only fields on input", async () => {
    const bogusId = randomUUID();
    const res = await unary(
      c.tenants,
      "createTenant",
      { tenant: { id: bogusId, displayName: `t ${randomUUID()}`, etag: "42" } },
      admin(),
    );
    expect(res.tenant.id).not.toBe(bogusId);
    expect(res.tenant.etag).toBe("1");
  });

  it.each([
    ["empty", "", "required"],
    ["leading whitespace", " Acme", "string.trimmed"],
    ["trailing whitespace", "Acme\t", "string.trimmed"],
    ["over 200 characters", "A".repeat(201), "string.max_len"],
  ])("refuses a display_name that is %s: INVALID_ARGUMENT on tenant.display_name", async (_what, displayName, ruleId) => {
    const err = await unaryError(c.tenants, "createTenant", { tenant: { displayName } }, admin());
    const d = expectError(err, grpc.status.INVALID_ARGUMENT, "INVALID_ARGUMENT");
    expect(d.violations.map((v) => [v.field, v.ruleId])).toEqual([["tenant.display_name", ruleId]]);
  });

  it("accepts a 200-character display_name with inner spaces", async () => {
    const displayName = `A ${"b".repeat(196)} C`;
    expect(displayName).toHaveLength(200);
    const res = await unary(c.tenants, "createTenant", { tenant: { displayName } }, admin());
    expect(res.tenant.displayName).toBe(displayName);
  });

  it("refuses a request without a tenant: INVALID_ARGUMENT on tenant", async () => {
    const err = await unaryError(c.tenants, "createTenant", {}, admin());
    const d = expectError(err, grpc.status.INVALID_ARGUMENT, "INVALID_ARGUMENT");
    expect(d.violations.map((v) => v.field)).toEqual(["tenant"]);
  });
});

describe("GetTenant", () => {
  it("returns the tenant as created", async () => {
    const displayName = `get ${randomUUID()}`;
    const created = await unary(c.tenants, "createTenant", { tenant: { displayName } }, admin());
    const got = await unary(c.tenants, "getTenant", { id: created.tenant.id }, admin());
    expect(got.tenant).toEqual(created.tenant);
  });

  it("unknown id: NOT_FOUND, TENANT_NOT_FOUND", async () => {
    const err = await unaryError(c.tenants, "getTenant", { id: randomUUID() }, admin());
    expectError(err, grpc.status.NOT_FOUND, "TENANT_NOT_FOUND");
  });

  it("malformed id: INVALID_ARGUMENT on id", async () => {
    const err = await unaryError(c.tenants, "getTenant", { id: "tenant-1" }, admin());
    const d = expectError(err, grpc.status.INVALID_ARGUMENT, "INVALID_ARGUMENT");
    expect(d.violations.map((v) => v.field)).toEqual(["id"]);
  });
});

describe("ListTenants", () => {
  it("walks pages of 2: each of this test's tenants exactly once, in create order, ending with an empty token", async () => {
    const mine: Array<{ id: string; displayName: string }> = [];
    for (let i = 0; i < 6; i++) {
      const res = await unary(c.tenants, "createTenant", { tenant: { displayName: `page ${i} ${randomUUID()}` } }, admin());
      mine.push(res.tenant);
    }
    const myIds = new Set(mine.map((t) => t.id));

    // Bound the walk by the number of tenants in the database now, plus room for tenants other
    // files create meanwhile.
    const [{ n: total }] = (await sql<{ n: number }>(server.databaseUrl, "select count(*)::int as n from tenants")) as [{ n: number }];
    const maxPages = Math.ceil((total + 2_000) / 2);

    const seen: string[] = [];
    const allIds: string[] = [];
    let token = "";
    let pages = 0;
    do {
      const page = await unary(c.tenants, "listTenants", { pageSize: 2, pageToken: token }, admin());
      pages++;
      expect(page.tenants.length).toBeLessThanOrEqual(2);
      if (page.nextPageToken !== "") expect(page.tenants).toHaveLength(2);
      for (const t of page.tenants) {
        allIds.push(t.id);
        if (myIds.has(t.id)) seen.push(t.id);
      }
      token = page.nextPageToken;
    } while (token !== "" && pages < maxPages);

    expect(token).toBe("");
    // "Oldest first" is (create_time, id): tenants created one after the other have
    // non-decreasing create times, and two created in the same instant are ordered by id.
    const nanos = (t: any) => BigInt(t.createTime.seconds) * 1_000_000_000n + BigInt(t.createTime.nanos);
    for (let i = 1; i < mine.length; i++) expect(nanos(mine[i]) >= nanos(mine[i - 1]!)).toBe(true);
    const createOrder = [...mine].sort((x, y) => (nanos(x) === nanos(y) ? (x.id < y.id ? -1 : 1) : nanos(x) < nanos(y) ? -1 : 1));
    expect(seen).toEqual(createOrder.map((t) => t.id));
    expect(seen).toHaveLength(6);
    expect(new Set(allIds).size).toBe(allIds.length); // no tenant on two pages
  });

  it("page_size 0 means the default (50) and a short last page has no next_page_token", async () => {
    await createTenant(server);
    const page = await unary(c.tenants, "listTenants", { pageSize: 0 }, admin());
    expect(page.tenants.length).toBeGreaterThanOrEqual(1);
    expect(page.tenants.length).toBeLessThanOrEqual(50);
    if (page.tenants.length < 50) expect(page.nextPageToken).toBe("");
    else expect(page.nextPageToken).not.toBe("");
  });

  it("a garbage page_token: INVALID_ARGUMENT, INVALID_PAGE_TOKEN on page_token", async () => {
    for (const pageToken of ["garbage!", Buffer.from('{"t":"2020-01-01T00:00:00Z","i":"x"}').toString("base64url"), Buffer.from('{"t":"not a time","i":"00000000-0000-0000-0000-000000000000"}').toString("base64url")]) {
      const err = await unaryError(c.tenants, "listTenants", { pageSize: 2, pageToken }, admin());
      const d = expectError(err, grpc.status.INVALID_ARGUMENT, "INVALID_PAGE_TOKEN");
      expect(d.violations.map((v) => v.field)).toEqual(["page_token"]);
    }
  });

  it("page_size 501: INVALID_ARGUMENT on page_size; 500 is accepted", async () => {
    const err = await unaryError(c.tenants, "listTenants", { pageSize: 501 }, admin());
    const d = expectError(err, grpc.status.INVALID_ARGUMENT, "INVALID_ARGUMENT");
    expect(d.violations.map((v) => v.field)).toEqual(["page_size"]);
    const ok = await unary(c.tenants, "listTenants", { pageSize: 500 }, admin());
    expect(ok.tenants.length).toBeGreaterThanOrEqual(1);
  });
});

describe("CreateApiKey", () => {
  it("issues another key for the tenant, with its label, stored hashed", async () => {
    const tenant = await createTenant(server);
    const res = await unary(c.tenants, "createApiKey", { tenantId: tenant.id, key: { displayName: "payments-backend" } }, admin());
    expect(res.apiKey).toMatch(/^cms_[A-Za-z0-9_-]{43}$/);
    expect(res.apiKey).not.toBe(tenant.apiKey);
    expect(res.key).toMatchObject({ tenantId: tenant.id, displayName: "payments-backend", prefix: res.apiKey.slice(0, 12) });
    const rows = await sql(server.databaseUrl, "select key_hash from api_keys where id = $1", [res.key.id]);
    expect(rows).toEqual([{ key_hash: sha256Hex(res.apiKey) }]);
  });

  it("unknown tenant: NOT_FOUND, TENANT_NOT_FOUND, and no key written", async () => {
    const tenantId = randomUUID();
    const err = await unaryError(c.tenants, "createApiKey", { tenantId, key: { displayName: "x" } }, admin());
    expectError(err, grpc.status.NOT_FOUND, "TENANT_NOT_FOUND");
    const rows = await sql<{ n: number }>(server.databaseUrl, "select count(*)::int as n from api_keys where tenant_id = $1", [tenantId]);
    expect(rows[0]!.n).toBe(0);
  });

  it("a label over 100 characters: INVALID_ARGUMENT on key.display_name", async () => {
    const tenant = await createTenant(server);
    const err = await unaryError(c.tenants, "createApiKey", { tenantId: tenant.id, key: { displayName: "k".repeat(101) } }, admin());
    const d = expectError(err, grpc.status.INVALID_ARGUMENT, "INVALID_ARGUMENT");
    expect(d.violations.map((v) => v.field)).toEqual(["key.display_name"]);
  });
});

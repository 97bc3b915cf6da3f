// Session tokens (CustomerService.CreateSessionToken): the credential a tenant's backend mints so
// that a browser can run ONE customer's onboarding without ever holding the tenant's API key.
// Proves what the token may and may not do: its RPCs only, its customer only (another customer
// is NOT_FOUND, exactly like an unknown id), never TenantService, only from its origins, never
// after expiry or after its API key is revoked; CreateCustomer binds it once, atomically.
// gRPC (grpc-js) for most calls; Connect over HTTP/1.1 with an Origin header for the origin rules.
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bearer, createTenant, sql, type TestTenant } from "../support/app.js";
import { useServer } from "../support/file-server.js";
import { completeIndividual } from "../support/fixtures.js";
import { details, grpc, metadata, unary, unaryError } from "../support/grpc.js";
import { startWebhookReceiver, type WebhookReceiver } from "../support/receivers.js";

const DOMAIN = "customerms.finhub";
const APP_ORIGIN = "https://app.session-test.example";

let webhook: WebhookReceiver;
beforeAll(async () => {
  webhook = await startWebhookReceiver("/hook");
});
afterAll(async () => {
  await webhook?.close();
});
const f = useServer({
  CUSTOMERMS_NOTIFIER: "webhook",
  CUSTOMERMS_PHONE_NOTIFIER: "webhook",
  // Read when the server starts (its beforeAll runs after the receiver's above).
  get CUSTOMERMS_WEBHOOK_URL() {
    return webhook.url;
  },
  CUSTOMERMS_WEBHOOK_SECRET: "whsec-session-tokens-test-0123456789abcdef",
});

const c = () => f.clients;
const md = (token: string) => metadata(bearer(token));

function expectError(err: grpc.ServiceError, code: number, reason: string) {
  const d = details(err);
  expect({ code: err.code, reason: d.errorInfo?.reason, domain: d.errorInfo?.domain }).toEqual({ code, reason, domain: DOMAIN });
  return d;
}

async function mint(t: TestTenant, request: object = {}): Promise<{ token: string; session: any }> {
  const res = await unary(c().customers, "createSessionToken", request, md(t.apiKey));
  return { token: res.sessionToken, session: res.session };
}

async function createWith(token: string, customer: object = completeIndividual("GB"), requestId = "") {
  return (await unary(c().customers, "createCustomer", { customer, requestId }, md(token))).customer;
}

async function codeFor(customerId: string, channel: "email" | "phone", n = 1): Promise<string> {
  const mine = (m: { json?: any }) => m.json?.customer_id === customerId && String(m.json?.channel).toLowerCase().includes(channel);
  await webhook.waitForMessage((m) => mine(m) && webhook.messages.filter(mine).indexOf(m) === n - 1);
  return String(webhook.messages.filter(mine)[n - 1]!.json.code);
}

/** A Connect JSON call as a browser's fetch sends it (with its Origin), over HTTP/1.1. */
async function connectCall(method: string, body: object, token: string, origin?: string): Promise<{ status: number; json: any }> {
  const res = await fetch(`${f.server.baseUrl}/finhub.customer.v1.CustomerService/${method}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...bearer(token), ...(origin === undefined ? {} : { origin }) },
    body: JSON.stringify(body),
  });
  return { status: res.status, json: await res.json() };
}

const reasonOf = (json: any): string | undefined =>
  (json?.details ?? []).find((d: any) => d.type === "google.rpc.ErrorInfo")?.debug?.reason;

describe("minting", () => {
  it("returns a cms_st_ secret once, with metadata: no customer yet, 30 minutes by default, the minting key", async () => {
    const t = await createTenant(f.server);
    const before = Date.now();
    const { token, session } = await mint(t);
    expect(token).toMatch(/^cms_st_[A-Za-z0-9_-]{65}$/);
    expect(session.customerId).toBe("");
    expect(session.apiKeyId).toBe(t.apiKeyId);
    expect(session.allowedOrigins).toEqual([]);
    const ttl = Number(session.expireTime.seconds) * 1000 - Number(session.createTime.seconds) * 1000;
    expect(ttl).toBe(30 * 60_000);
    expect(Number(session.createTime.seconds) * 1000).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000);
    // Only the hash is stored.
    const rows = await sql(f.server.databaseUrl, "select token_hash from session_tokens where tenant_id = $1", [t.id]);
    expect(rows).toHaveLength(1);
    expect(rows[0]!.token_hash).not.toContain(token.slice(7, 30));
  });

  it("needs a key with read, write and verify: a write-only key is refused naming the missing scope", async () => {
    const t = await createTenant(f.server);
    const res = await unary(
      f.clients.tenants,
      "createApiKey",
      { tenantId: t.id, key: { displayName: "writer", scopes: ["API_KEY_SCOPE_WRITE"] } },
      md(f.server.adminToken),
    );
    const err = await unaryError(c().customers, "createSessionToken", {}, md(res.apiKey));
    const d = expectError(err, grpc.status.PERMISSION_DENIED, "API_KEY_SCOPE_INSUFFICIENT");
    expect(d.errorInfo?.metadata).toEqual({ required_scope: "read", api_key_id: res.key.id });
    const readOnly = await unary(
      f.clients.tenants,
      "createApiKey",
      { tenantId: t.id, key: { displayName: "reader", scopes: ["API_KEY_SCOPE_READ"] } },
      md(f.server.adminToken),
    );
    expectError(await unaryError(c().customers, "createSessionToken", {}, md(readOnly.apiKey)), grpc.status.PERMISSION_DENIED, "API_KEY_SCOPE_INSUFFICIENT");
    expect(await sql(f.server.databaseUrl, "select 1 from session_tokens where tenant_id = $1", [t.id])).toHaveLength(0);
  });

  it("validates ttl, origins and customer_id, and refuses an unknown, foreign or closed customer", async () => {
    const t = await createTenant(f.server);
    const other = await createTenant(f.server);
    const err = await unaryError(
      c().customers,
      "createSessionToken",
      { ttl: { seconds: 10 }, allowedOrigins: ["not an origin"], customerId: "nope" },
      md(t.apiKey),
    );
    const d = expectError(err, grpc.status.INVALID_ARGUMENT, "INVALID_ARGUMENT");
    expect(d.violations.map((v) => v.field).sort()).toEqual(["allowed_origins.0", "customer_id", "ttl"]);
    const foreign = await createWith((await mint(other)).token);
    expectError(await unaryError(c().customers, "createSessionToken", { customerId: foreign.id }, md(t.apiKey)), grpc.status.NOT_FOUND, "CUSTOMER_NOT_FOUND");
    expectError(await unaryError(c().customers, "createSessionToken", { customerId: randomUUID() }, md(t.apiKey)), grpc.status.NOT_FOUND, "CUSTOMER_NOT_FOUND");
    const mine = await createWith((await mint(t)).token);
    await unary(c().customers, "closeCustomer", { id: mine.id, reason: "STATUS_REASON_CUSTOMER_REQUEST" }, md(t.apiKey));
    expectError(await unaryError(c().customers, "createSessionToken", { customerId: mine.id }, md(t.apiKey)), grpc.status.FAILED_PRECONDITION, "CUSTOMER_CLOSED");
    expect(await sql(f.server.databaseUrl, "select 1 from session_tokens where tenant_id = $1", [t.id])).toHaveLength(1);
  });

  it("never outlives the API key that minted it", async () => {
    const t = await createTenant(f.server);
    const expireMs = Date.now() + 5 * 60_000;
    const key = await unary(
      f.clients.tenants,
      "createApiKey",
      { tenantId: t.id, key: { displayName: "short", expireTime: { seconds: String(Math.floor(expireMs / 1000)), nanos: 0 } } },
      md(f.server.adminToken),
    );
    const res = await unary(c().customers, "createSessionToken", { ttl: { seconds: 3600 } }, md(key.apiKey));
    expect(Number(res.session.expireTime.seconds)).toBe(Math.floor(expireMs / 1000));
  });
});

describe("what a session token may do", () => {
  it("runs the whole onboarding: create (binds), verify email and phone, read requirements, update, activate", async () => {
    const t = await createTenant(f.server);
    const { token } = await mint(t);
    const created = await createWith(token);
    const [bound] = await sql(f.server.databaseUrl, "select customer_id from session_tokens where tenant_id = $1", [t.id]);
    expect(bound!.customer_id).toBe(created.id);

    await unary(c().verification, "startEmailVerification", { customerId: created.id }, md(token));
    await unary(c().verification, "verifyEmail", { customerId: created.id, code: await codeFor(created.id, "email") }, md(token));
    await unary(c().verification, "startPhoneVerification", { customerId: created.id }, md(token));
    await unary(c().verification, "verifyPhone", { customerId: created.id, code: await codeFor(created.id, "phone") }, md(token));

    const req = await unary(c().customers, "getCustomerRequirements", { id: created.id }, md(token));
    expect(req.currentlyDue).toEqual([]);
    const updated = await unary(
      c().customers,
      "updateCustomer",
      { customer: { id: created.id, individual: { ...created.individual, occupation: "Mathematician" } }, updateMask: { paths: ["individual.occupation"] } },
      md(token),
    );
    expect(updated.customer.individual.occupation).toBe("Mathematician");
    const active = await unary(c().customers, "activateCustomer", { id: created.id }, md(token));
    expect(active.customer.status).toBe("CUSTOMER_STATUS_ACTIVE");
    const got = await unary(c().customers, "getCustomer", { id: created.id }, md(token));
    expect(got.customer.status).toBe("CUSTOMER_STATUS_ACTIVE");

    // The audit trail names the session, not the API key.
    const events = await unary(c().customers, "listCustomerEvents", { customerId: created.id }, md(t.apiKey));
    expect(new Set(events.events.map((e: { actor: string }) => e.actor.split(":")[0]))).toEqual(new Set(["session_token"]));
  });

  it("a token minted for an existing customer acts for it from the first call", async () => {
    const t = await createTenant(f.server);
    const existing = (await unary(c().customers, "createCustomer", { customer: completeIndividual("GB") }, md(t.apiKey))).customer;
    const { token, session } = await mint(t, { customerId: existing.id });
    expect(session.customerId).toBe(existing.id);
    expect((await unary(c().customers, "getCustomer", { id: existing.id }, md(token))).customer.id).toBe(existing.id);
    // ... and cannot register another customer.
    expectError(await unaryError(c().customers, "createCustomer", { customer: completeIndividual("GB") }, md(token)), grpc.status.PERMISSION_DENIED, "SESSION_TOKEN_ALREADY_BOUND");
  });

  it("creates exactly one customer: a second create is refused and writes nothing; a retry with the same request_id replays", async () => {
    const t = await createTenant(f.server);
    const { token } = await mint(t);
    const body = completeIndividual("GB");
    const requestId = randomUUID();
    const first = await createWith(token, body, requestId);
    const replay = await createWith(token, body, requestId);
    expect(replay.id).toBe(first.id);
    const second = await unaryError(c().customers, "createCustomer", { customer: completeIndividual("GB") }, md(token));
    expectError(second, grpc.status.PERMISSION_DENIED, "SESSION_TOKEN_ALREADY_BOUND");
    const rows = await sql(f.server.databaseUrl, "select count(*)::int as n from customers where tenant_id = $1", [t.id]);
    expect(rows[0]!.n).toBe(1);
  });

  it("concurrent creates with one unbound token: exactly one customer, the others refused", async () => {
    const t = await createTenant(f.server);
    const { token } = await mint(t);
    const results = await Promise.allSettled(Array.from({ length: 6 }, () => createWith(token)));
    const ok = results.filter((r) => r.status === "fulfilled");
    expect(ok).toHaveLength(1);
    for (const r of results.filter((x): x is PromiseRejectedResult => x.status === "rejected")) {
      expectError(r.reason, grpc.status.PERMISSION_DENIED, "SESSION_TOKEN_ALREADY_BOUND");
    }
    const rows = await sql(f.server.databaseUrl, "select count(*)::int as n from customers where tenant_id = $1", [t.id]);
    expect(rows[0]!.n).toBe(1);
  });
});

describe("what a session token may not do", () => {
  it("cannot read, update, verify or activate another customer of its tenant: NOT_FOUND, exactly as for an unknown id", async () => {
    const t = await createTenant(f.server);
    const { token } = await mint(t);
    await createWith(token);
    const neighbour = (await unary(c().customers, "createCustomer", { customer: completeIndividual("GB") }, md(t.apiKey))).customer;
    const unknown = randomUUID();
    for (const id of [neighbour.id, unknown]) {
      const calls: Array<[any, string, object]> = [
        [c().customers, "getCustomer", { id }],
        [c().customers, "getCustomerRequirements", { id }],
        [c().customers, "activateCustomer", { id }],
        [c().customers, "updateCustomer", { customer: { id, email: "x@example.com" }, updateMask: { paths: ["email"] } }],
        [c().verification, "startEmailVerification", { customerId: id }],
        [c().verification, "verifyPhone", { customerId: id, code: "123456" }],
      ];
      for (const [client, method, request] of calls) {
        const err = await unaryError(client, method, request, md(token));
        expectError(err, grpc.status.NOT_FOUND, "CUSTOMER_NOT_FOUND");
        expect(err.details).toBe(`customer ${id} not found`);
      }
    }
    const after = await unary(c().customers, "getCustomer", { id: neighbour.id }, md(t.apiKey));
    expect(after.customer.etag).toBe(neighbour.etag);
  });

  it("a taken email is ALREADY_EXISTS without the holder's id (the API key's caller gets it)", async () => {
    const t = await createTenant(f.server);
    const holder = (await unary(c().customers, "createCustomer", { customer: completeIndividual("GB") }, md(t.apiKey))).customer;
    const { token } = await mint(t);
    const err = await unaryError(c().customers, "createCustomer", { customer: completeIndividual("GB", { email: holder.email }) }, md(token));
    const d = expectError(err, grpc.status.ALREADY_EXISTS, "EMAIL_ALREADY_EXISTS");
    expect(d.errorInfo?.metadata).toEqual({ field: "email" });
    const byKey = await unaryError(c().customers, "createCustomer", { customer: completeIndividual("GB", { email: holder.email }) }, md(t.apiKey));
    expect(details(byKey).errorInfo?.metadata).toEqual({ field: "email", customer_id: holder.id });
    // The refused create did not bind the token: it can still register its customer.
    expect((await createWith(token)).status).toBe("CUSTOMER_STATUS_PENDING");
  });

  it("before it has a customer, every customer id is NOT_FOUND", async () => {
    const t = await createTenant(f.server);
    const existing = (await unary(c().customers, "createCustomer", { customer: completeIndividual("GB") }, md(t.apiKey))).customer;
    const { token } = await mint(t);
    expectError(await unaryError(c().customers, "getCustomer", { id: existing.id }, md(token)), grpc.status.NOT_FOUND, "CUSTOMER_NOT_FOUND");
  });

  it("cannot reach another tenant's customer", async () => {
    const a = await createTenant(f.server);
    const b = await createTenant(f.server);
    const theirs = await createWith((await mint(b)).token);
    const { token } = await mint(a);
    await createWith(token);
    expectError(await unaryError(c().customers, "getCustomer", { id: theirs.id }, md(token)), grpc.status.NOT_FOUND, "CUSTOMER_NOT_FOUND");
  });

  it("cannot list, stream, suspend, close, erase, link or mint: PERMISSION_DENIED SESSION_TOKEN_NOT_ALLOWED", async () => {
    const t = await createTenant(f.server);
    const { token } = await mint(t);
    const mine = await createWith(token);
    const calls: Array<[string, object]> = [
      ["listCustomers", {}],
      ["listCustomerEvents", { customerId: mine.id }],
      ["suspendCustomer", { id: mine.id }],
      ["closeCustomer", { id: mine.id }],
      ["eraseCustomer", { id: mine.id }],
      ["linkCustomer", { id: mine.id, link: { kind: "LINK_KIND_WALLET", externalId: "w_1" } }],
      ["unlinkCustomer", { id: mine.id, link: { kind: "LINK_KIND_WALLET", externalId: "w_1" } }],
      ["createSessionToken", {}],
    ];
    for (const [method, request] of calls) {
      expectError(await unaryError(c().customers, method, request, md(token)), grpc.status.PERMISSION_DENIED, "SESSION_TOKEN_NOT_ALLOWED");
    }
    const stream = c().customers.watchCustomerEvents({ afterCursor: "" }, md(token));
    const streamErr = await new Promise<grpc.ServiceError>((resolve) => {
      stream.on("data", () => undefined);
      stream.on("error", resolve);
    });
    expectError(streamErr, grpc.status.PERMISSION_DENIED, "SESSION_TOKEN_NOT_ALLOWED");
    expect((await unary(c().customers, "getCustomer", { id: mine.id }, md(t.apiKey))).customer.status).toBe("CUSTOMER_STATUS_PENDING");
  });

  it("cannot call TenantService: PERMISSION_DENIED ADMIN_ONLY, for every RPC", async () => {
    const t = await createTenant(f.server);
    const { token } = await mint(t);
    const calls: Array<[string, object]> = [
      ["getTenant", { id: t.id }],
      ["listTenants", {}],
      ["createTenant", { tenant: { displayName: "x" } }],
      ["updateTenant", { tenant: { id: t.id, displayName: "x" } }],
      ["createApiKey", { tenantId: t.id }],
      ["revokeApiKey", { tenantId: t.id, apiKeyId: t.apiKeyId }],
      ["listApiKeys", { tenantId: t.id }],
    ];
    for (const [method, request] of calls) {
      expectError(await unaryError(f.clients.tenants, method, request, md(token)), grpc.status.PERMISSION_DENIED, "ADMIN_ONLY");
    }
    const [key] = await sql(f.server.databaseUrl, "select revoke_time from api_keys where id = $1", [t.apiKeyId]);
    expect(key!.revoke_time).toBeNull();
  });

  it("stops working when its API key is revoked (within the 2 s cache) and after it expires", async () => {
    const t = await createTenant(f.server);
    const key = await unary(f.clients.tenants, "createApiKey", { tenantId: t.id, key: { displayName: "frontend-minter" } }, md(f.server.adminToken));
    const { token } = await mint({ ...t, apiKey: key.apiKey, apiKeyId: key.key.id });
    const mine = await createWith(token);
    await unary(f.clients.tenants, "revokeApiKey", { tenantId: t.id, apiKeyId: key.key.id }, md(f.server.adminToken));
    const deadline = Date.now() + 5_000;
    let err: grpc.ServiceError | undefined;
    while (err === undefined && Date.now() < deadline) {
      err = await unary(c().customers, "getCustomer", { id: mine.id }, md(token)).then(() => undefined, (e: grpc.ServiceError) => e);
    }
    expectError(err!, grpc.status.UNAUTHENTICATED, "CREDENTIALS_INVALID");

    const other = await mint(t);
    await sql(f.server.databaseUrl, "update session_tokens set expire_time = now() - interval '1 second' where id = $1", [other.session.id]);
    expectError(await unaryError(c().customers, "createCustomer", { customer: completeIndividual("GB") }, md(other.token)), grpc.status.UNAUTHENTICATED, "SESSION_TOKEN_EXPIRED");
    // A well-shaped token that was never minted.
    const forged = other.token.slice(0, 29) + "A".repeat(43);
    expectError(await unaryError(c().customers, "getCustomer", { id: mine.id }, md(forged)), grpc.status.UNAUTHENTICATED, "CREDENTIALS_INVALID");
  });
});

describe("origins (Connect JSON over HTTP/1.1, as a browser sends it)", () => {
  it("without allowed_origins: the tenant's CORS origins are accepted, any other Origin refused", async () => {
    const t = await createTenant(f.server);
    await unary(
      f.clients.tenants,
      "updateTenant",
      { tenant: { id: t.id, corsOrigins: [APP_ORIGIN] }, updateMask: { paths: ["cors_origins"] } },
      md(f.server.adminToken),
    );
    const { token } = await mint(t);
    const created = await connectCall("CreateCustomer", { customer: completeIndividual("GB") }, token, APP_ORIGIN);
    expect(created.status).toBe(200);
    const id = created.json.customer.id as string;
    const refused = await connectCall("GetCustomer", { id }, token, "https://evil.example");
    expect({ status: refused.status, code: refused.json.code, reason: reasonOf(refused.json) }).toEqual({
      status: 403,
      code: "permission_denied",
      reason: "ORIGIN_NOT_ALLOWED",
    });
    // No Origin header (a backend or curl): not restricted by it.
    expect((await connectCall("GetCustomer", { id }, token)).json.customer.id).toBe(id);
  });

  it("with allowed_origins: only those, even if the tenant allows more; a refused create writes nothing", async () => {
    const t = await createTenant(f.server);
    await unary(
      f.clients.tenants,
      "updateTenant",
      { tenant: { id: t.id, corsOrigins: [APP_ORIGIN, "https://other.session-test.example"] }, updateMask: { paths: ["cors_origins"] } },
      md(f.server.adminToken),
    );
    const { token, session } = await mint(t, { allowedOrigins: ["https://other.session-test.example"] });
    expect(session.allowedOrigins).toEqual(["https://other.session-test.example"]);
    const refused = await connectCall("CreateCustomer", { customer: completeIndividual("GB") }, token, APP_ORIGIN);
    expect({ status: refused.status, reason: reasonOf(refused.json) }).toEqual({ status: 403, reason: "ORIGIN_NOT_ALLOWED" });
    const rows = await sql(f.server.databaseUrl, "select count(*)::int as n from customers where tenant_id = $1", [t.id]);
    expect(rows[0]!.n).toBe(0);
    const ok = await connectCall("CreateCustomer", { customer: completeIndividual("GB") }, token, "https://other.session-test.example");
    expect(ok.json.customer.status).toBe("CUSTOMER_STATUS_PENDING");
  });
});

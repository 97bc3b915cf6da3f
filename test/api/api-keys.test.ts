// API keys as a security boundary: least-privilege scopes, expiry, last use, the ListApiKeys
// listing, rotation without downtime across two server processes, and brute-force protection of
// credentials (failed authentications per client address: exact count on the in-memory limiter,
// shared count on Redis between two replicas). All traffic is 127.0.0.1 over the grpc-js client.
import { randomBytes, randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bearer, createTenant, sql, startServer, type TestServer, type TestTenant } from "../support/app.js";
import { completeIndividual } from "../support/fixtures.js";
import { details, grpc, grpcClients, metadata, unary, unaryError } from "../support/grpc.js";
import { startRedisServer, type RedisServer } from "../support/redis-server.js";

const DOMAIN = "customerms.finhub";
const ALL_SCOPES = ["API_KEY_SCOPE_READ", "API_KEY_SCOPE_WRITE", "API_KEY_SCOPE_VERIFY"];

let server: TestServer;
let c: ReturnType<typeof grpcClients>;
/** Everything else this file starts, closed in afterAll (last started, first closed). */
const cleanups: Array<() => Promise<void> | void> = [];

beforeAll(async () => {
  server = await startServer();
  c = grpcClients(server.port);
});
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  c?.close();
  await server?.close();
});

// ---------------------------------------------------------------------------------------------
// Helpers

const admin = (s: TestServer = server) => metadata(bearer(s.adminToken));
const keyMd = (secret: string) => metadata(bearer(secret));
/** A syntactically valid API key that was never issued. */
const unknownKey = () => `cms_${randomBytes(32).toString("base64url")}`;
const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function expectError(err: grpc.ServiceError, code: number, reason: string): ReturnType<typeof details> {
  const d = details(err);
  expect({ code: err.code, reason: d.errorInfo?.reason, domain: d.errorInfo?.domain }).toEqual({ code, reason, domain: DOMAIN });
  return d;
}

/** PERMISSION_DENIED, API_KEY_SCOPE_INSUFFICIENT, naming the scope that was missing and the key. */
function expectScopeDenied(err: grpc.ServiceError, requiredScope: string, apiKeyId: string): void {
  const d = expectError(err, grpc.status.PERMISSION_DENIED, "API_KEY_SCOPE_INSUFFICIENT");
  expect(d.errorInfo?.metadata).toEqual({ required_scope: requiredScope, api_key_id: apiKeyId });
}

/** google.protobuf.Timestamp as proto-loader renders it (longs as strings) -> epoch ms. */
function tsMs(ts: { seconds: string | number; nanos: number } | null | undefined): number {
  if (ts === null || ts === undefined) throw new Error("timestamp is unset");
  return Number(ts.seconds) * 1000 + Math.floor(ts.nanos / 1e6);
}
function tsFromMs(ms: number): { seconds: string; nanos: number } {
  return { seconds: String(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1e6 };
}

interface Issued {
  secret: string;
  key: any;
}

async function createKey(tenantId: string, key: object = {}, s: TestServer = server, client = c): Promise<Issued> {
  const res = await unary(client.tenants, "createApiKey", { tenantId, key }, admin(s));
  return { secret: res.apiKey, key: res.key };
}

/** Every key of the tenant, walking all pages (bounded). */
async function allKeys(tenantId: string, pageSize = 50): Promise<{ keys: any[]; pages: any[] }> {
  const keys: any[] = [];
  const pages: any[] = [];
  let token = "";
  for (let i = 0; i < 100; i++) {
    const page = await unary(c.tenants, "listApiKeys", { tenantId, pageSize, pageToken: token }, admin());
    pages.push(page);
    keys.push(...page.keys);
    token = page.nextPageToken;
    if (token === "") return { keys, pages };
  }
  throw new Error("ListApiKeys did not end within 100 pages");
}

async function listedKey(tenantId: string, keyId: string): Promise<any> {
  const { keys } = await allKeys(tenantId);
  const found = keys.find((k) => k.id === keyId);
  if (found === undefined) throw new Error(`key ${keyId} is not listed`);
  return found;
}

async function countRows(table: "customers" | "api_keys", tenantId: string): Promise<number> {
  const rows = await sql<{ n: number }>(server.databaseUrl, `select count(*)::int as n from ${table} where tenant_id = $1`, [tenantId]);
  return rows[0]!.n;
}

// ---------------------------------------------------------------------------------------------

describe("scopes (least privilege)", () => {
  it("a READ key reads but cannot write or verify; nothing refused is written", async () => {
    const tenant = await createTenant(server);
    const full = keyMd(tenant.apiKey);
    const created = (await unary(c.customers, "createCustomer", { customer: completeIndividual("GB") }, full)).customer;

    const read = await createKey(tenant.id, { displayName: "reporting", scopes: ["API_KEY_SCOPE_READ"] });
    expect(read.key.scopes).toEqual(["API_KEY_SCOPE_READ"]);
    const md = keyMd(read.secret);

    // Allowed: the reads.
    const got = await unary(c.customers, "getCustomer", { id: created.id }, md);
    expect(got.customer).toEqual(created);
    const listed = await unary(c.customers, "listCustomers", {}, md);
    expect(listed.customers.map((x: any) => x.id)).toEqual([created.id]);
    const reqs = await unary(c.customers, "getCustomerRequirements", { id: created.id }, md);
    expect(reqs).toBeDefined();

    // Refused: writes ("write") and verification ("verify").
    const before = await countRows("customers", tenant.id);
    expect(before).toBe(1);
    expectScopeDenied(await unaryError(c.customers, "createCustomer", { customer: completeIndividual("GB") }, md), "write", read.key.id);
    expectScopeDenied(
      await unaryError(
        c.customers,
        "updateCustomer",
        { customer: { id: created.id, email: `changed.${randomUUID()}@example.com` }, updateMask: { paths: ["email"] } },
        md,
      ),
      "write",
      read.key.id,
    );
    expectScopeDenied(await unaryError(c.customers, "closeCustomer", { id: created.id, reason: "STATUS_REASON_CUSTOMER_REQUEST" }, md), "write", read.key.id);
    expectScopeDenied(await unaryError(c.verification, "startEmailVerification", { customerId: created.id }, md), "verify", read.key.id);

    // No row was added and the customer is unchanged (same etag, email and status).
    expect(await countRows("customers", tenant.id)).toBe(before);
    const after = (await unary(c.customers, "getCustomer", { id: created.id }, md)).customer;
    expect({ etag: after.etag, email: after.email, status: after.status }).toEqual({
      etag: created.etag,
      email: created.email,
      status: created.status,
    });
  });

  it("a VERIFY key cannot list customers; a WRITE key cannot read one; each passes its own scope", async () => {
    const tenant = await createTenant(server);
    const created = (await unary(c.customers, "createCustomer", { customer: completeIndividual("GB") }, keyMd(tenant.apiKey))).customer;

    const verify = await createKey(tenant.id, { displayName: "code screen", scopes: ["API_KEY_SCOPE_VERIFY"] });
    expectScopeDenied(await unaryError(c.customers, "listCustomers", {}, keyMd(verify.secret)), "read", verify.key.id);
    expectScopeDenied(await unaryError(c.customers, "getCustomer", { id: created.id }, keyMd(verify.secret)), "read", verify.key.id);
    // Its own scope gets past authorization to the handler (an unknown customer: NOT_FOUND).
    expectError(
      await unaryError(c.verification, "startEmailVerification", { customerId: randomUUID() }, keyMd(verify.secret)),
      grpc.status.NOT_FOUND,
      "CUSTOMER_NOT_FOUND",
    );

    const write = await createKey(tenant.id, { displayName: "backend", scopes: ["API_KEY_SCOPE_WRITE"] });
    expectScopeDenied(await unaryError(c.customers, "getCustomer", { id: created.id }, keyMd(write.secret)), "read", write.key.id);
    expectScopeDenied(await unaryError(c.customers, "listCustomers", {}, keyMd(write.secret)), "read", write.key.id);
    expectScopeDenied(await unaryError(c.verification, "startEmailVerification", { customerId: created.id }, keyMd(write.secret)), "verify", write.key.id);
    const made = await unary(c.customers, "createCustomer", { customer: completeIndividual("GB") }, keyMd(write.secret));
    expect(made.customer.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(await countRows("customers", tenant.id)).toBe(2);
  });

  it("empty scopes on create mean all three, in the response and in the listing; READ+WRITE lists exactly those", async () => {
    const tenant = await createTenant(server);
    const all = await createKey(tenant.id, { displayName: "everything" });
    expect(all.key.scopes).toEqual(ALL_SCOPES);
    expect((await listedKey(tenant.id, all.key.id)).scopes).toEqual(ALL_SCOPES);
    // The tenant's first key has all scopes too.
    expect((await listedKey(tenant.id, tenant.apiKeyId)).scopes).toEqual(ALL_SCOPES);

    const two = await createKey(tenant.id, { scopes: ["API_KEY_SCOPE_WRITE", "API_KEY_SCOPE_READ"] });
    expect([...two.key.scopes].sort()).toEqual(["API_KEY_SCOPE_READ", "API_KEY_SCOPE_WRITE"]);
    expect([...(await listedKey(tenant.id, two.key.id)).scopes].sort()).toEqual(["API_KEY_SCOPE_READ", "API_KEY_SCOPE_WRITE"]);
  });

  it.each([
    ["duplicate", ["API_KEY_SCOPE_READ", "API_KEY_SCOPE_READ"]],
    ["UNSPECIFIED", ["API_KEY_SCOPE_UNSPECIFIED"]],
    ["UNSPECIFIED next to a real one", ["API_KEY_SCOPE_WRITE", "API_KEY_SCOPE_UNSPECIFIED"]],
  ])("%s scopes: INVALID_ARGUMENT on key.scopes and no key is created", async (_what, scopes) => {
    const tenant = await createTenant(server);
    const before = await countRows("api_keys", tenant.id);
    const err = await unaryError(c.tenants, "createApiKey", { tenantId: tenant.id, key: { scopes } }, admin());
    const d = expectError(err, grpc.status.INVALID_ARGUMENT, "INVALID_ARGUMENT");
    expect(d.violations.length).toBeGreaterThan(0);
    for (const v of d.violations) expect(v.field).toMatch(/^key\.scopes(\.\d+)?$/);
    expect(await countRows("api_keys", tenant.id)).toBe(before);
  });
});

describe("expiry", () => {
  it("an expire_time in the past on create: INVALID_ARGUMENT on key.expire_time, no key created", async () => {
    const tenant = await createTenant(server);
    const before = await countRows("api_keys", tenant.id);
    const err = await unaryError(
      c.tenants,
      "createApiKey",
      { tenantId: tenant.id, key: { displayName: "stale", expireTime: tsFromMs(Date.now() - 60_000) } },
      admin(),
    );
    const d = expectError(err, grpc.status.INVALID_ARGUMENT, "INVALID_ARGUMENT");
    expect(d.violations.map((v) => v.field)).toEqual(["key.expire_time"]);
    expect(await countRows("api_keys", tenant.id)).toBe(before);
  });

  it("a key with a future expire_time works; once expired (never used, so not cached) its next call is API_KEY_EXPIRED", async () => {
    const tenant = await createTenant(server);
    const expireMs = Date.now() + 3_600_000;
    const used = await createKey(tenant.id, { displayName: "expires in an hour", expireTime: tsFromMs(expireMs) });
    expect(tsMs(used.key.expireTime)).toBe(expireMs);
    expect((await unary(c.customers, "listCustomers", {}, keyMd(used.secret))).customers).toEqual([]);

    const unused = await createKey(tenant.id, { displayName: "never used", expireTime: tsFromMs(expireMs) });
    const moved = await sql(server.databaseUrl, "update api_keys set expire_time = now() - interval '1 second' where id = $1 returning id", [
      unused.key.id,
    ]);
    expect(moved).toHaveLength(1);
    const err = await unaryError(c.customers, "listCustomers", {}, keyMd(unused.secret));
    expectError(err, grpc.status.UNAUTHENTICATED, "API_KEY_EXPIRED");
    // Listed with its (past) expiry; the other keys still work.
    expect(tsMs((await listedKey(tenant.id, unused.key.id)).expireTime)).toBeLessThan(Date.now());
    expect((await unary(c.customers, "listCustomers", {}, keyMd(tenant.apiKey))).customers).toEqual([]);
  });

  it("the key cache never outlives the expiry: a key in use is refused from its expire_time on, not up to the cache TTL later", async () => {
    const tenant = await createTenant(server);
    // Used at once, an uncapped 2 s cache entry would keep it working until ~expire + 1 s.
    const expireMs = Date.now() + 1_000;
    const k = await createKey(tenant.id, { expireTime: tsFromMs(expireMs) });
    const md = keyMd(k.secret);
    const successes: number[] = [];
    let refused: { start: number; end: number; err: grpc.ServiceError } | undefined;
    for (let i = 0; i < 200 && refused === undefined; i++) {
      const start = Date.now();
      try {
        await unary(c.customers, "listCustomers", {}, md);
        successes.push(start);
      } catch (err) {
        refused = { start, end: Date.now(), err: err as grpc.ServiceError };
      }
      if (refused === undefined) await delay(20);
    }
    expect(refused, "the key was never refused").toBeDefined();
    expectError(refused!.err, grpc.status.UNAUTHENTICATED, "API_KEY_EXPIRED");
    expect(successes.length).toBeGreaterThan(0);
    for (const s of successes) expect(s).toBeLessThan(expireMs);
    expect(refused!.end).toBeGreaterThanOrEqual(expireMs);
    expect(refused!.start - expireMs).toBeLessThan(700);
  });
});

describe("last_use_time", () => {
  it("is unset on a new key and set after one call, to a time within that call", async () => {
    const tenant = await createTenant(server);
    const k = await createKey(tenant.id, { displayName: "fresh" });
    expect(k.key.lastUseTime).toBeNull();
    expect((await listedKey(tenant.id, k.key.id)).lastUseTime).toBeNull();

    const start = Date.now();
    await unary(c.customers, "listCustomers", {}, keyMd(k.secret));
    const end = Date.now();

    // Written in the background: poll the listing every 50 ms for at most 5 s.
    let lastUse: any = null;
    const deadline = Date.now() + 5_000;
    for (let i = 0; i < 200 && Date.now() < deadline; i++) {
      lastUse = (await listedKey(tenant.id, k.key.id)).lastUseTime;
      if (lastUse !== null) break;
      await delay(50);
    }
    expect(lastUse, "last_use_time not set within 5 s").not.toBeNull();
    const at = tsMs(lastUse);
    expect(at).toBeGreaterThanOrEqual(start - 5);
    expect(at).toBeLessThanOrEqual(end + 5);
    // Only that key was touched.
    expect((await listedKey(tenant.id, tenant.apiKeyId)).lastUseTime).toBeNull();
  });
});

describe("ListApiKeys", () => {
  it("lists named keys newest first, revoked ones with revoke_time; pages of 2 cover every key once; never a secret", async () => {
    const tenant = await createTenant(server); // its first key is "initial"
    const secrets = [tenant.apiKey];
    const ids = [tenant.apiKeyId];
    const names = ["initial"];
    for (const name of ["payments-backend", "reporting", "front-end", "batch"]) {
      const k = await createKey(tenant.id, { displayName: name });
      expect(k.key.displayName).toBe(name);
      secrets.push(k.secret);
      ids.push(k.key.id);
      names.push(name);
    }
    const revoked = await unary(c.tenants, "revokeApiKey", { tenantId: tenant.id, apiKeyId: ids[2] }, admin());
    const revokeMs = tsMs(revoked.key.revokeTime);

    const one = await allKeys(tenant.id);
    expect(one.pages).toHaveLength(1);
    expect(one.keys.map((k) => k.id)).toEqual([...ids].reverse());
    expect(one.keys.map((k) => k.displayName)).toEqual([...names].reverse());
    const creates = one.keys.map((k) => tsMs(k.createTime));
    for (let i = 1; i < creates.length; i++) expect(creates[i - 1]).toBeGreaterThanOrEqual(creates[i]!);

    for (const k of one.keys) {
      const i = ids.indexOf(k.id);
      expect(k.tenantId).toBe(tenant.id);
      expect(k.prefix).toBe(secrets[i]!.slice(0, 12));
      expect(k.prefix).toMatch(/^cms_/);
      if (k.id === ids[2]) expect(tsMs(k.revokeTime)).toBe(revokeMs);
      else expect(k.revokeTime).toBeNull();
    }

    // Pages of 2: 2 + 2 + 1, each key exactly once, same order, the last token empty.
    const paged = await allKeys(tenant.id, 2);
    expect(paged.pages.map((p) => p.keys.length)).toEqual([2, 2, 1]);
    expect(paged.pages.slice(0, 2).every((p) => p.nextPageToken !== "")).toBe(true);
    expect(paged.keys.map((k) => k.id)).toEqual([...ids].reverse());
    expect(new Set(paged.keys.map((k) => k.id)).size).toBe(ids.length);

    // No secret (nor the part of it the prefix does not show) anywhere in any response.
    const json = JSON.stringify([one.pages, paged.pages, revoked]);
    for (const s of secrets) {
      expect(json).not.toContain(s);
      expect(json).not.toContain(s.slice(12));
    }
  });

  it("another tenant's page token is refused: INVALID_ARGUMENT, INVALID_PAGE_TOKEN", async () => {
    const a = await createTenant(server);
    await createKey(a.id);
    const b = await createTenant(server);
    const first = await unary(c.tenants, "listApiKeys", { tenantId: a.id, pageSize: 1 }, admin());
    expect(first.nextPageToken).not.toBe("");
    const err = await unaryError(c.tenants, "listApiKeys", { tenantId: b.id, pageSize: 1, pageToken: first.nextPageToken }, admin());
    expectError(err, grpc.status.INVALID_ARGUMENT, "INVALID_PAGE_TOKEN");
  });

  it("unknown tenant: NOT_FOUND, TENANT_NOT_FOUND", async () => {
    const err = await unaryError(c.tenants, "listApiKeys", { tenantId: randomUUID() }, admin());
    expectError(err, grpc.status.NOT_FOUND, "TENANT_NOT_FOUND");
  });

  it("a tenant's API key cannot list keys: PERMISSION_DENIED, ADMIN_ONLY", async () => {
    const tenant = await createTenant(server);
    const err = await unaryError(c.tenants, "listApiKeys", { tenantId: tenant.id }, keyMd(tenant.apiKey));
    expectError(err, grpc.status.PERMISSION_DENIED, "ADMIN_ONLY");
  });
});

describe("rotation without downtime", () => {
  it("switch callers to a new key, revoke the old: a second process refuses it within 5 s, the new key never fails", async () => {
    const server2 = await startServer();
    cleanups.push(() => server2.close());
    const c2 = grpcClients(server2.port);
    cleanups.push(() => c2.close());
    const clients = [c, c2];

    const tenant: TestTenant = await createTenant(server);
    let current = tenant.apiKey;

    // A client of both replicas: sequential calls, alternating servers, with whatever key is current.
    const calls: Array<{ server: number; key: string; ok: boolean; code?: number; at: number }> = [];
    let stop = false;
    const loop = (async () => {
      for (let i = 0; i < 2_000 && !stop; i++) {
        const which = i % 2;
        const key = current;
        try {
          await unary(clients[which]!.customers, "listCustomers", { pageSize: 1 }, keyMd(key));
          calls.push({ server: which, key, ok: true, at: Date.now() });
        } catch (err) {
          calls.push({ server: which, key, ok: false, code: (err as grpc.ServiceError).code, at: Date.now() });
        }
        await delay(10);
      }
    })();
    /** Bounded poll until `cond` holds. */
    const until = async (what: string, cond: () => boolean, ms = 10_000) => {
      const deadline = Date.now() + ms;
      while (!cond()) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await delay(10);
      }
    };

    try {
      await until("calls with the old key on both servers", () => [0, 1].every((s) => calls.some((x) => x.ok && x.server === s && x.key === tenant.apiKey)));

      const fresh = await createKey(tenant.id, { displayName: "rotated" });
      current = fresh.secret;
      await until("calls with the new key on both servers", () => [0, 1].every((s) => calls.some((x) => x.ok && x.server === s && x.key === fresh.secret)));

      // A straggler still on the old key makes server 2 cache it right before the revocation.
      await unary(c2.customers, "listCustomers", { pageSize: 1 }, keyMd(tenant.apiKey));

      await unary(c.tenants, "revokeApiKey", { tenantId: tenant.id, apiKeyId: tenant.apiKeyId }, admin());
      const revokedAt = Date.now();

      // Server 1 dropped it from its cache at once.
      expectError(await unaryError(c.customers, "listCustomers", {}, keyMd(tenant.apiKey)), grpc.status.UNAUTHENTICATED, "CREDENTIALS_INVALID");

      // Server 2: poll every 50 ms, at most 10 s.
      let refusal: grpc.ServiceError | undefined;
      let propagationMs = Infinity;
      for (let i = 0; i < 400 && Date.now() - revokedAt < 10_000; i++) {
        try {
          await unary(c2.customers, "listCustomers", { pageSize: 1 }, keyMd(tenant.apiKey));
        } catch (err) {
          refusal = err as grpc.ServiceError;
          propagationMs = Date.now() - revokedAt;
          break;
        }
        await delay(50);
      }
      console.log(`[api-keys] revocation reached the second process after ${propagationMs} ms`);
      expect(refusal, "server 2 still accepted the revoked key after 10 s").toBeDefined();
      expectError(refusal!, grpc.status.UNAUTHENTICATED, "CREDENTIALS_INVALID");
      expect(propagationMs).toBeLessThan(5_000);

      // The new key keeps working on both servers after the revocation too.
      const afterRevoke = calls.length;
      await until("more calls after the revocation", () =>
        [0, 1].every((s) => calls.slice(afterRevoke).filter((x) => x.ok && x.server === s && x.key === fresh.secret).length >= 3),
      );
    } finally {
      stop = true;
      await loop;
    }
    expect(calls.filter((x) => !x.ok)).toEqual([]);
    expect(calls.filter((x) => x.key === current).length).toBeGreaterThanOrEqual(8);
  });
});

describe("brute-force protection", () => {
  it("in memory, limit 5: five failures answer UNAUTHENTICATED, the sixth RESOURCE_EXHAUSTED, then even a valid key is refused", async () => {
    const limited = await startServer({ REDIS_URL: "", CUSTOMERMS_AUTH_FAILURES_PER_MINUTE: "5" });
    cleanups.push(() => limited.close());
    const lc = grpcClients(limited.port);
    cleanups.push(() => lc.close());

    const tenant = await createTenant(limited);
    expect((await unary(lc.customers, "listCustomers", {}, keyMd(tenant.apiKey))).customers).toEqual([]);

    for (let i = 1; i <= 5; i++) {
      const err = await unaryError(lc.customers, "listCustomers", {}, keyMd(unknownKey()));
      expectError(err, grpc.status.UNAUTHENTICATED, "CREDENTIALS_INVALID");
    }
    const sixth = await unaryError(lc.customers, "listCustomers", {}, keyMd(unknownKey()));
    const d = expectError(sixth, grpc.status.RESOURCE_EXHAUSTED, "TOO_MANY_AUTH_FAILURES");
    expect(d.retryDelayMs).toBeGreaterThan(0);
    expect(d.retryDelayMs).toBeLessThanOrEqual(60_000);

    // Blocked before any lookup: the valid key, and the admin token on TenantService, too.
    const valid = await unaryError(lc.customers, "listCustomers", {}, keyMd(tenant.apiKey));
    expect(expectError(valid, grpc.status.RESOURCE_EXHAUSTED, "TOO_MANY_AUTH_FAILURES").retryDelayMs).toBeGreaterThan(0);
    expectError(await unaryError(lc.tenants, "listApiKeys", { tenantId: tenant.id }, admin(limited)), grpc.status.RESOURCE_EXHAUSTED, "TOO_MANY_AUTH_FAILURES");

    // A server with the default (test) limit, same address, same key: not affected.
    expect((await unary(c.customers, "listCustomers", {}, keyMd(tenant.apiKey))).customers).toEqual([]);
  });

  it("two replicas on one Redis, limit 3: failures alternating between them trip on the 4th overall, not 2 × 3", async () => {
    // A Redis of this test only, so no other file's failures from 127.0.0.1 share the counter
    // and the count is exact.
    const redis: RedisServer = await startRedisServer();
    cleanups.push(() => redis.stop());
    const env = { REDIS_URL: redis.url, CUSTOMERMS_AUTH_FAILURES_PER_MINUTE: "3" };
    const a = await startServer(env);
    cleanups.push(() => a.close());
    const b = await startServer(env);
    cleanups.push(() => b.close());
    const ca = grpcClients(a.port);
    const cb = grpcClients(b.port);
    cleanups.push(() => ca.close(), () => cb.close());
    const replicas = [ca, cb];

    const tenant = await createTenant(a);
    expect((await unary(cb.customers, "listCustomers", {}, keyMd(tenant.apiKey))).customers).toEqual([]);

    const answers: Array<{ replica: number; err: grpc.ServiceError }> = [];
    for (let i = 0; i < 6; i++) {
      const replica = i % 2;
      const err = await unaryError(replicas[replica]!.customers, "listCustomers", {}, keyMd(unknownKey()));
      answers.push({ replica, err });
      if (err.code === grpc.status.RESOURCE_EXHAUSTED) break;
    }
    const codes = answers.map((x) => x.err.code);
    const tripped = codes.indexOf(grpc.status.RESOURCE_EXHAUSTED);
    expect(tripped, `answers: ${codes.join(",")}`).toBeGreaterThanOrEqual(0);
    expect(tripped).toBeLessThanOrEqual(3); // per-replica counting would allow 2 × 3 failures
    for (const x of answers.slice(0, tripped)) expectError(x.err, grpc.status.UNAUTHENTICATED, "CREDENTIALS_INVALID");
    expect(tripped).toBe(3); // exact on a private Redis: 1 (a), 2 (b), 3 (a) pass, 4 (b) trips
    expect(answers[tripped]!.replica).toBe(1);
    expect(expectError(answers[tripped]!.err, grpc.status.RESOURCE_EXHAUSTED, "TOO_MANY_AUTH_FAILURES").retryDelayMs).toBeGreaterThan(0);

    // The count lives in Redis under the documented prefix.
    const probe = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    try {
      await probe.connect();
      const keys = await probe.keys("cms:authfail*");
      expect(keys).toHaveLength(1);
      expect(Number(await probe.get(keys[0]!))).toBe(4);
    } finally {
      probe.disconnect();
    }

    // The replica that tripped refuses the valid key; the other one trips on its next failure
    // (the shared count is over the limit) and then refuses the valid key as well.
    expectError(await unaryError(cb.customers, "listCustomers", {}, keyMd(tenant.apiKey)), grpc.status.RESOURCE_EXHAUSTED, "TOO_MANY_AUTH_FAILURES");
    expectError(await unaryError(ca.customers, "listCustomers", {}, keyMd(unknownKey())), grpc.status.RESOURCE_EXHAUSTED, "TOO_MANY_AUTH_FAILURES");
    expectError(await unaryError(ca.customers, "listCustomers", {}, keyMd(tenant.apiKey)), grpc.status.RESOURCE_EXHAUSTED, "TOO_MANY_AUTH_FAILURES");

    // The file's main server (the run's Redis, the test limit) is not affected.
    expect((await unary(c.customers, "listCustomers", {}, keyMd(tenant.apiKey))).customers).toEqual([]);
  });
});

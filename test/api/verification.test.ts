// VerificationService end to end (issue acceptance): codes delivered by a real SMTP exchange and a
// real signed webhook to in-process receivers, read back by the test like a customer would, then
// checked against the service with the grpc-js client built from proto/. Expiry is tested by
// moving the server's injected clock, never by sleeping. Always on Redis: the run's, or (when
// the run has none) a redis-server child process of this file.
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { once } from "node:events";
import { createServer } from "node:net";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { bearer, sql, startServer, whileChangeCommits, type TestServer } from "../support/app.js";
import { completeIndividual } from "../support/fixtures.js";
import { details, grpc, grpcClients, metadata, unary, unaryError, type GrpcClient } from "../support/grpc.js";
import {
  startSmtpReceiver,
  startWebhookReceiver,
  verifySignature,
  type ReceivedEmail,
  type ReceivedWebhook,
  type SmtpReceiver,
  type WebhookReceiver,
} from "../support/receivers.js";

const DOMAIN = "customerms.finhub";
const WEBHOOK_SECRET = `whsec-${randomBytes(17).toString("hex")}`; // 40 characters
const TEN_MINUTES = 10 * 60_000;
const COOLDOWN = 30_000;

// ---------------------------------------------------------------------------------------------
// Redis: the run's, or our own child process when the run has none.

async function sparePort(): Promise<number> {
  const srv = createServer();
  srv.listen(0, "127.0.0.1");
  await once(srv, "listening");
  const port = (srv.address() as { port: number }).port;
  srv.close();
  await once(srv, "close");
  return port;
}

let ownRedis: ChildProcess | undefined;

async function redisForRun(): Promise<string> {
  const provided = inject("redisUrl");
  if (provided) return provided;
  const port = await sparePort();
  const child = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  ownRedis = child;
  // Ready when it says so (woken by its output; bounded by the timer).
  await new Promise<void>((resolve, reject) => {
    let out = "";
    const fail = (err: Error) => {
      clearTimeout(timer);
      child.off("error", fail);
      child.off("exit", onExit);
      reject(err);
    };
    const onExit = (code: number | null) => fail(new Error(`redis-server exited with ${code}: ${out}`));
    const timer = setTimeout(() => fail(new Error(`redis-server did not start within 10 s: ${out}`)), 10_000);
    child.once("error", fail);
    child.once("exit", onExit);
    child.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      if (out.includes("Ready to accept connections")) {
        clearTimeout(timer);
        child.off("error", fail);
        child.off("exit", onExit); // (not removeAllListeners: that also breaks the later "exit")
        resolve();
      }
    });
  });
  return `redis://127.0.0.1:${port}`;
}

// ---------------------------------------------------------------------------------------------
// Server, receivers, clients

const lines: string[] = [];
let offsetMs = 0;
/** The server's expiry clock: real time plus what the tests moved it forward by. */
const clock = () => new Date(Date.now() + offsetMs);

let server: TestServer;
let smtp: SmtpReceiver;
let webhook: WebhookReceiver;
let redis: Redis;
let c: ReturnType<typeof grpcClients>;
let v: GrpcClient;

beforeAll(async () => {
  const redisUrl = await redisForRun();
  smtp = await startSmtpReceiver();
  webhook = await startWebhookReceiver("/hook");
  server = await startServer(
    {
      LOG_LEVEL: "debug",
      REDIS_URL: redisUrl,
      CUSTOMERMS_NOTIFIER: "smtp",
      CUSTOMERMS_SMTP_URL: smtp.url,
      CUSTOMERMS_PHONE_NOTIFIER: "webhook",
      CUSTOMERMS_WEBHOOK_URL: webhook.url,
      CUSTOMERMS_WEBHOOK_SECRET: WEBHOOK_SECRET,
    },
    { write: (line) => void lines.push(line) },
    clock,
  );
  expect(server.app.codeStore).toBe("redis");
  redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  c = grpcClients(server.port);
  v = c.verification;
});

afterAll(async () => {
  c?.close();
  await server?.close();
  redis?.disconnect();
  await smtp?.close();
  await webhook?.close();
  if (ownRedis && ownRedis.exitCode === null) {
    const exited = once(ownRedis, "exit");
    ownRedis.kill("SIGTERM");
    await exited;
  }
});

// ---------------------------------------------------------------------------------------------
// What was sent and stored, for the log check at the end

const sentContacts: string[] = [];
const storedHashes: string[] = [];

function allSentCodes(): string[] {
  return [...smtp.messages.map((m) => m.code), ...webhook.messages.map((m) => String(m.json?.code ?? ""))].filter((x) => x !== "");
}

// ---------------------------------------------------------------------------------------------
// Helpers

/** The google.rpc.RetryInfo delay of an error in ms, or undefined when it has none. */
const retryDelayMs = (err: grpc.ServiceError): number | undefined => details(err).retryDelayMs;

function expectError(err: grpc.ServiceError, code: number, reason: string, metadata?: Record<string, string>): void {
  const info = details(err).errorInfo;
  expect({ code: err.code, reason: info?.reason, domain: info?.domain }).toEqual({ code, reason, domain: DOMAIN });
  if (metadata !== undefined) expect(info?.metadata).toMatchObject(metadata);
}

const millis = (ts: { seconds: string | number; nanos: number } | null | undefined): number => {
  if (!ts) throw new Error("timestamp missing");
  return Number(ts.seconds) * 1000 + Math.floor(ts.nanos / 1e6);
};

const codeKey = (tenantId: string, customerId: string, channel: "email" | "phone") =>
  `cms:{t:${tenantId}}:code:${customerId}:${channel}`;

async function scanKeys(pattern: string): Promise<string[]> {
  const keys = new Set<string>();
  let cursor = "0";
  for (let i = 0; i < 10_000; i++) {
    const [next, batch] = await redis.scan(cursor, "MATCH", pattern, "COUNT", 1000);
    for (const k of batch) keys.add(k);
    cursor = next;
    if (cursor === "0") return [...keys];
  }
  throw new Error(`SCAN ${pattern} did not finish`);
}

let phoneSeq = 100;
/** A valid UK mobile number, unique within the file. */
const nextPhone = () => `+447911123${String(phoneSeq++)}`;

interface Ctx {
  tenantId: string;
  displayName: string;
  tenant: any;
  md: grpc.Metadata;
  customers(method: string, request: object): Promise<any>;
  customersFail(method: string, request: object): Promise<grpc.ServiceError>;
  verify(method: string, request: object): Promise<any>;
  verifyFail(method: string, request: object): Promise<grpc.ServiceError>;
  /** A new customer (an individual, complete for its country GB: only its contacts are left to
   * verify before activation) with its own email, and a phone number unless phone: false. */
  newCustomer(opts?: { phone?: boolean; given?: string }): Promise<{ id: string; email: string; phone: string | null; etag: string }>;
  /** StartEmailVerification; remembers the stored HMAC of the code (for the log check). */
  startEmail(customerId: string, requestId?: string): Promise<any>;
  startPhone(customerId: string, requestId?: string): Promise<any>;
}

async function tenantCtx(policy?: Record<string, unknown>, displayName = `Tenant ${randomUUID().slice(0, 8)}`): Promise<Ctx> {
  const created = await unary(
    c.tenants,
    "createTenant",
    { tenant: { displayName, ...(policy ? { verificationPolicy: policy } : {}) } },
    metadata(bearer(server.adminToken)),
  );
  const tenantId: string = created.tenant.id;
  const md = metadata(bearer(created.apiKey));
  const rememberHash = async (customerId: string, channel: "email" | "phone") => {
    const h = await redis.hget(codeKey(tenantId, customerId, channel), "h");
    if (h !== null) storedHashes.push(h);
  };
  const ctx: Ctx = {
    tenantId,
    displayName,
    tenant: created.tenant,
    md,
    customers: (method, request) => unary(c.customers, method, request, md),
    customersFail: (method, request) => unaryError(c.customers, method, request, md),
    verify: (method, request) => unary(v, method, request, md),
    verifyFail: (method, request) => unaryError(v, method, request, md),
    async newCustomer(opts = {}) {
      const given = opts.given ?? "Jane";
      const email = `${given.toLowerCase()}.${randomUUID()}@example.com`;
      const phone = opts.phone === false ? null : nextPhone();
      sentContacts.push(email, ...(phone ? [phone] : []));
      const res = await ctx.customers("createCustomer", {
        customer: completeIndividual("GB", {
          individual: { givenName: given, familyName: "Doe" },
          email,
          phoneNumber: phone ?? undefined,
        }),
      });
      return { id: res.customer.id, email, phone, etag: res.customer.etag };
    },
    async startEmail(customerId, requestId) {
      const res = await ctx.verify("startEmailVerification", { customerId, ...(requestId ? { requestId } : {}) });
      await rememberHash(customerId, "email");
      return res;
    },
    async startPhone(customerId, requestId) {
      const res = await ctx.verify("startPhoneVerification", { customerId, ...(requestId ? { requestId } : {}) });
      await rememberHash(customerId, "phone");
      return res;
    },
  };
  return ctx;
}

const emailsTo = (email: string) => smtp.messages.filter((m) => m.to.includes(email));

/** The n-th email (1-based) to `email`, waiting for it if needed. */
function nthEmail(email: string, n = 1, timeoutMs = 5_000): Promise<ReceivedEmail> {
  return smtp.waitForMessage((m) => m.to.includes(email) && emailsTo(email).indexOf(m) === n - 1, timeoutMs);
}

const webhooksFor = (customerId: string) => webhook.messages.filter((m) => m.json?.customer_id === customerId);

function nthWebhook(customerId: string, n = 1, timeoutMs = 5_000): Promise<ReceivedWebhook> {
  return webhook.waitForMessage((m) => m.json?.customer_id === customerId && webhooksFor(customerId).indexOf(m) === n - 1, timeoutMs);
}

/** A code of the same length that is not `code`. */
const wrongCode = (code: string) => String((Number(code) + 1) % 10 ** code.length).padStart(code.length, "0");

async function eventTypes(tenantId: string, customerId: string): Promise<string[]> {
  const rows = await sql<{ type: string }>(
    server.databaseUrl,
    "select type from customer_events where tenant_id = $1 and customer_id = $2 order by time, id",
    [tenantId, customerId],
  );
  return rows.map((r) => r.type);
}

async function deleteCooldownKeys(tenantId: string): Promise<number> {
  const keys = await scanKeys(`cms:{t:${tenantId}}:rl:cooldown:*`);
  if (keys.length > 0) await redis.del(...keys);
  return keys.length;
}

// ---------------------------------------------------------------------------------------------

describe("full flow", () => {
  it("email by SMTP and phone by signed webhook verify the contacts; then the customer activates", async () => {
    const suffix = randomUUID().slice(0, 8);
    const t = await tenantCtx(undefined, `Acme & Daughters ${suffix}`);
    const cust = await t.newCustomer({ given: "Jane" });

    // --- Email
    const before = clock().getTime();
    const started = await t.startEmail(cust.id);
    const after = clock().getTime();
    expect(started.destination).toBe("j***@example.com");
    expect(started.codeLength).toBe(6);
    const expire = millis(started.expireTime);
    expect(expire).toBeGreaterThanOrEqual(before + TEN_MINUTES);
    expect(expire).toBeLessThanOrEqual(after + TEN_MINUTES);
    expect(millis(started.resendTime) - expire).toBe(COOLDOWN - TEN_MINUTES);

    const mail = await nthEmail(cust.email);
    expect(mail.to).toEqual([cust.email]);
    expect(mail.from).toBe("no-reply@customerms.local");
    expect(mail.subject).toMatch(/: your verification code is \d{6}$/);
    expect(mail.subject).toContain(t.displayName);
    expect(mail.code).toMatch(/^\d{6}$/);
    expect(mail.text).toContain(mail.code);
    expect(mail.text).toContain(t.displayName);
    expect(mail.html).toContain(mail.code);
    expect(mail.html).toContain(`Acme &amp; Daughters ${suffix}`); // the name, HTML-escaped

    const t0 = Date.now();
    const verifiedEmail = (await t.verify("verifyEmail", { customerId: cust.id, code: mail.code })).customer;
    const t1 = Date.now();
    expect(verifiedEmail.id).toBe(cust.id);
    expect(verifiedEmail.emailVerified).toBe(true);
    expect(verifiedEmail.phoneVerified).toBe(false);
    expect(millis(verifiedEmail.emailVerifyTime)).toBeGreaterThanOrEqual(t0 - 1_000);
    expect(millis(verifiedEmail.emailVerifyTime)).toBeLessThanOrEqual(t1 + 1_000);
    expect(verifiedEmail.phoneVerifyTime).toBeNull();
    // Single use.
    expectError(await t.verifyFail("verifyEmail", { customerId: cust.id, code: mail.code }), grpc.status.FAILED_PRECONDITION, "NO_ACTIVE_CODE");

    // --- Phone
    const phoneStarted = await t.startPhone(cust.id);
    const phone = cust.phone!;
    // Masked as in the contract's example "+44*******89": country prefix, stars, last two digits.
    expect(phoneStarted.destination).toMatch(/^\+44\*{5,}\d{2}$/);
    expect(phoneStarted.destination.endsWith(phone.slice(-2))).toBe(true);
    expect(phoneStarted.codeLength).toBe(6);
    const hook = await nthWebhook(cust.id);
    expect(hook.method).toBe("POST");
    expect(hook.path).toBe("/hook");
    expect(hook.headers["content-type"]).toMatch(/^application\/json/);
    expect(hook.json).toEqual({
      tenant_id: t.tenantId,
      customer_id: cust.id,
      channel: "phone",
      destination: phone,
      code: expect.stringMatching(/^\d{6}$/),
      expire_time: new Date(millis(phoneStarted.expireTime)).toISOString(),
    });
    const signature = hook.headers["x-customerms-signature"];
    expect(signature).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
    expect(verifySignature(WEBHOOK_SECRET, signature, hook.body)).toBe(true);
    const tampered = hook.body.replace(`"code":"${hook.json.code}"`, `"code":"${wrongCode(hook.json.code)}"`);
    expect(tampered).not.toBe(hook.body);
    expect(verifySignature(WEBHOOK_SECRET, signature, tampered)).toBe(false);
    expect(verifySignature(`${WEBHOOK_SECRET}x`, signature, hook.body)).toBe(false);

    const verifiedPhone = (await t.verify("verifyPhone", { customerId: cust.id, code: hook.json.code })).customer;
    expect(verifiedPhone.phoneVerified).toBe(true);
    expect(verifiedPhone.emailVerified).toBe(true);
    expect(millis(verifiedPhone.phoneVerifyTime)).toBeGreaterThanOrEqual(t0 - 1_000);

    // --- Both verified: nothing left to start; activation works.
    expectError(await t.verifyFail("startEmailVerification", { customerId: cust.id }), grpc.status.FAILED_PRECONDITION, "ALREADY_VERIFIED");
    expectError(await t.verifyFail("startPhoneVerification", { customerId: cust.id }), grpc.status.FAILED_PRECONDITION, "ALREADY_VERIFIED");
    const active = (await t.customers("activateCustomer", { id: cust.id })).customer;
    expect(active.status).toBe("CUSTOMER_STATUS_ACTIVE");
    expect(await eventTypes(t.tenantId, cust.id)).toEqual(["CUSTOMER_CREATED", "EMAIL_VERIFIED", "PHONE_VERIFIED", "CUSTOMER_ACTIVATED"]);
  });
});

describe("wrong codes and single use", () => {
  it("each wrong code says how many attempts are left; after 5 the code is burned, the right one included", async () => {
    const t = await tenantCtx();
    const cust = await t.newCustomer();
    await t.startEmail(cust.id);
    const { code } = await nthEmail(cust.email);
    const wrong = wrongCode(code);
    for (const left of ["4", "3", "2", "1", "0"]) {
      const err = await t.verifyFail("verifyEmail", { customerId: cust.id, code: wrong });
      expectError(err, grpc.status.INVALID_ARGUMENT, "CODE_MISMATCH", { attempts_left: left });
      expect(details(err).violations.map((x) => x.field)).toEqual(["code"]);
    }
    expectError(await t.verifyFail("verifyEmail", { customerId: cust.id, code: wrong }), grpc.status.FAILED_PRECONDITION, "NO_ACTIVE_CODE");
    expectError(await t.verifyFail("verifyEmail", { customerId: cust.id, code }), grpc.status.FAILED_PRECONDITION, "NO_ACTIVE_CODE");
    expect((await t.customers("getCustomer", { id: cust.id })).customer.emailVerified).toBe(false);
    expect(await eventTypes(t.tenantId, cust.id)).toEqual(["CUSTOMER_CREATED"]);
  });

  it("20 concurrent VerifyEmail calls with the right code: exactly one succeeds, the rest NO_ACTIVE_CODE", async () => {
    const t = await tenantCtx();
    const cust = await t.newCustomer();
    await t.startEmail(cust.id);
    const { code } = await nthEmail(cust.email);
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, () => t.verify("verifyEmail", { customerId: cust.id, code })),
    );
    const ok = results.filter((r) => r.status === "fulfilled");
    const failed = results.flatMap((r) => (r.status === "rejected" ? [r.reason as grpc.ServiceError] : []));
    expect(ok).toHaveLength(1);
    expect((ok[0] as PromiseFulfilledResult<any>).value.customer.emailVerified).toBe(true);
    expect(failed).toHaveLength(19);
    for (const err of failed) expectError(err, grpc.status.FAILED_PRECONDITION, "NO_ACTIVE_CODE");
    expect((await eventTypes(t.tenantId, cust.id)).filter((e) => e === "EMAIL_VERIFIED")).toHaveLength(1);
  });
});

describe("tenant policy", () => {
  it("8-digit codes and 10 attempts; more than 10 wrong codes in an hour is VERIFY_LIMIT_EXCEEDED with RetryInfo", async () => {
    const t = await tenantCtx({ codeLength: 8, maxAttempts: 10 });
    expect(t.tenant.verificationPolicy).toMatchObject({ codeLength: 8, maxAttempts: 10 });
    const cust = await t.newCustomer();
    const started = await t.startEmail(cust.id);
    expect(started.codeLength).toBe(8);
    const { code } = await nthEmail(cust.email);
    expect(code).toMatch(/^\d{8}$/);
    const wrong = wrongCode(code);
    for (let left = 9; left >= 0; left--) {
      expectError(
        await t.verifyFail("verifyEmail", { customerId: cust.id, code: wrong }),
        grpc.status.INVALID_ARGUMENT,
        "CODE_MISMATCH",
        { attempts_left: String(left) },
      );
    }
    // A fresh code does not help: the customer is over the hourly limit of wrong codes.
    expect(await deleteCooldownKeys(t.tenantId)).toBe(1);
    await t.startEmail(cust.id);
    const fresh = (await nthEmail(cust.email, 2)).code;
    const err = await t.verifyFail("verifyEmail", { customerId: cust.id, code: fresh });
    expectError(err, grpc.status.RESOURCE_EXHAUSTED, "VERIFY_LIMIT_EXCEEDED");
    const delay = retryDelayMs(err);
    expect(delay).toBeGreaterThan(30_000);
    expect(delay).toBeLessThanOrEqual(3_600_000);
    expect((await t.customers("getCustomer", { id: cust.id })).customer.emailVerified).toBe(false);
  });
});

describe("expiry (moving the clock, not sleeping)", () => {
  it("a tenant's 120 s code works until then and is NO_ACTIVE_CODE after", async () => {
    const t = await tenantCtx({ codeTtl: { seconds: 120 } });
    expect(t.tenant.verificationPolicy.codeTtl).toEqual({ seconds: "120", nanos: 0 });
    const cust = await t.newCustomer();
    const before = clock().getTime();
    const started = await t.startEmail(cust.id);
    const after = clock().getTime();
    expect(millis(started.expireTime)).toBeGreaterThanOrEqual(before + 120_000);
    expect(millis(started.expireTime)).toBeLessThanOrEqual(after + 120_000);
    const { code } = await nthEmail(cust.email);
    try {
      offsetMs = 119_000; // still live: a wrong guess is counted, not refused as expired
      expectError(
        await t.verifyFail("verifyEmail", { customerId: cust.id, code: wrongCode(code) }),
        grpc.status.INVALID_ARGUMENT,
        "CODE_MISMATCH",
        { attempts_left: "4" },
      );
      offsetMs = 121_000;
      expectError(await t.verifyFail("verifyEmail", { customerId: cust.id, code }), grpc.status.FAILED_PRECONDITION, "NO_ACTIVE_CODE");
    } finally {
      offsetMs = 0;
    }
    // Expired means gone: back at the real time the code does not come back.
    expectError(await t.verifyFail("verifyEmail", { customerId: cust.id, code }), grpc.status.FAILED_PRECONDITION, "NO_ACTIVE_CODE");
    expect((await t.customers("getCustomer", { id: cust.id })).customer.emailVerified).toBe(false);
  });
});

describe("send limits", () => {
  it("a second send within 30 s is RESEND_COOLDOWN with RetryInfo; the 6th send in an hour is SEND_LIMIT_EXCEEDED", async () => {
    const t = await tenantCtx();
    const cust = await t.newCustomer();
    await t.startEmail(cust.id);
    await nthEmail(cust.email, 1);

    const cooldown = await t.verifyFail("startEmailVerification", { customerId: cust.id });
    expectError(cooldown, grpc.status.RESOURCE_EXHAUSTED, "RESEND_COOLDOWN");
    const delay = retryDelayMs(cooldown);
    expect(delay).toBeGreaterThanOrEqual(1_000);
    expect(delay).toBeLessThanOrEqual(30_000);
    expect(emailsTo(cust.email)).toHaveLength(1);

    // Sends 2..5, each after lifting the cooldown straight in Redis.
    for (let n = 2; n <= 5; n++) {
      expect(await deleteCooldownKeys(t.tenantId)).toBe(1);
      await t.startEmail(cust.id);
      await nthEmail(cust.email, n);
    }
    expect(await deleteCooldownKeys(t.tenantId)).toBe(1);
    const sixth = await t.verifyFail("startEmailVerification", { customerId: cust.id });
    expectError(sixth, grpc.status.RESOURCE_EXHAUSTED, "SEND_LIMIT_EXCEEDED");
    const hourly = retryDelayMs(sixth);
    expect(hourly).toBeGreaterThan(30_000);
    expect(hourly).toBeLessThanOrEqual(3_600_000);
    expect(emailsTo(cust.email)).toHaveLength(5);
    // The last code sent still works.
    const last = (await nthEmail(cust.email, 5)).code;
    expect((await t.verify("verifyEmail", { customerId: cust.id, code: last })).customer.emailVerified).toBe(true);
  });

  it("a tenant's send budget per minute: the 3rd send of a budget of 2 is TENANT_SEND_BUDGET_EXCEEDED", async () => {
    const t = await tenantCtx({ sendBudgetPerMinute: 2 });
    expect(t.tenant.verificationPolicy.sendBudgetPerMinute).toBe(2);
    const [a, b, third] = [await t.newCustomer(), await t.newCustomer(), await t.newCustomer()];
    await t.startEmail(a.id);
    await t.startEmail(b.id);
    const err = await t.verifyFail("startEmailVerification", { customerId: third.id });
    expectError(err, grpc.status.RESOURCE_EXHAUSTED, "TENANT_SEND_BUDGET_EXCEEDED");
    const delay = retryDelayMs(err);
    expect(delay).toBeGreaterThan(0);
    expect(delay).toBeLessThanOrEqual(60_000);
    await nthEmail(a.email);
    await nthEmail(b.email);
    expect(await smtp.messageWithin((m) => m.to.includes(third.email), 1_000)).toBeUndefined();
  });

  it("two concurrent starts with one request_id: one send, the same response twice", async () => {
    const t = await tenantCtx();
    const cust = await t.newCustomer();
    const requestId = randomUUID();
    const [r1, r2] = await Promise.all([t.startEmail(cust.id, requestId), t.startEmail(cust.id, requestId)]);
    expect(r2).toEqual(r1);
    const mail = await nthEmail(cust.email, 1);
    expect(await smtp.messageWithin((m) => m.to.includes(cust.email) && m !== mail, 1_500)).toBeUndefined();
  });

  it("a replay with the same request_id returns the first response and sends no second email", async () => {
    const t = await tenantCtx();
    const cust = await t.newCustomer();
    const requestId = randomUUID();
    const first = await t.startEmail(cust.id, requestId);
    const replay = await t.verify("startEmailVerification", { customerId: cust.id, requestId });
    expect(replay).toEqual(first);
    const mail = await nthEmail(cust.email, 1);
    expect(await smtp.messageWithin((m) => m.to.includes(cust.email) && m !== mail, 1_500)).toBeUndefined();
    expect(emailsTo(cust.email)).toHaveLength(1);
    // A new request_id is a new send: the cooldown applies to it.
    expectError(
      await t.verifyFail("startEmailVerification", { customerId: cust.id, requestId: randomUUID() }),
      grpc.status.RESOURCE_EXHAUSTED,
      "RESEND_COOLDOWN",
    );
    // The one code sent works.
    expect((await t.verify("verifyEmail", { customerId: cust.id, code: mail.code })).customer.emailVerified).toBe(true);
  });
});

describe("delivery and destination", () => {
  it("a failed webhook delivery is UNAVAILABLE DELIVERY_FAILED and leaves no usable code", async () => {
    const t = await tenantCtx();
    const cust = await t.newCustomer();
    let err: grpc.ServiceError;
    webhook.failing = true;
    try {
      err = await t.verifyFail("startPhoneVerification", { customerId: cust.id });
    } finally {
      webhook.failing = false;
    }
    expectError(err, grpc.status.UNAVAILABLE, "DELIVERY_FAILED");
    const hook = await nthWebhook(cust.id);
    expect(hook.answered).toBe(500);
    expect(hook.json.code).toMatch(/^\d{6}$/);
    expect(await redis.exists(codeKey(t.tenantId, cust.id, "phone"))).toBe(0);
    expectError(
      await t.verifyFail("verifyPhone", { customerId: cust.id, code: hook.json.code }),
      grpc.status.FAILED_PRECONDITION,
      "NO_ACTIVE_CODE",
    );
    expect((await t.customers("getCustomer", { id: cust.id })).customer.phoneVerified).toBe(false);
  });

  it("a code sent before the email changed is refused with DESTINATION_CHANGED, then gone", async () => {
    const t = await tenantCtx();
    const cust = await t.newCustomer();
    await t.startEmail(cust.id);
    const { code } = await nthEmail(cust.email);
    const newEmail = `moved.${randomUUID()}@example.com`;
    sentContacts.push(newEmail);
    const updated = (await t.customers("updateCustomer", { customer: { id: cust.id, email: newEmail }, updateMask: { paths: ["email"] } })).customer;
    expect(updated.email).toBe(newEmail);
    expectError(await t.verifyFail("verifyEmail", { customerId: cust.id, code }), grpc.status.FAILED_PRECONDITION, "DESTINATION_CHANGED");
    expectError(await t.verifyFail("verifyEmail", { customerId: cust.id, code }), grpc.status.FAILED_PRECONDITION, "NO_ACTIVE_CODE");
    expect((await t.customers("getCustomer", { id: cust.id })).customer.emailVerified).toBe(false);
  });
});

/** VerifyEmail while `change` (SQL after `set`; the version is raised) commits under it. */
const verifyWhileChanged = (t: Ctx, customerId: string, code: string, change: string, values: unknown[]) =>
  whileChangeCommits(server, { text: `update customers set ${change}, version = version + 1 where id = $1`, values: [customerId, ...values] }, () =>
    t.verify("verifyEmail", { customerId, code }),
  );

describe("a change that commits while VerifyEmail spends the code", () => {
  it("an unrelated change is kept and the email is still verified; a changed email is DESTINATION_CHANGED", async () => {
    const t = await tenantCtx();
    const cust = await t.newCustomer();
    await t.startEmail(cust.id);
    const { code } = await nthEmail(cust.email);
    const { res, err } = await verifyWhileChanged(t, cust.id, code, `metadata = '{"changed":"meanwhile"}'::jsonb`, []);
    expect(err).toBeUndefined();
    expect(res.customer).toMatchObject({ emailVerified: true, metadata: { changed: "meanwhile" } });
    expect(await eventTypes(t.tenantId, cust.id)).toEqual(["CUSTOMER_CREATED", "EMAIL_VERIFIED"]);

    const moving = await t.newCustomer();
    await t.startEmail(moving.id);
    const sent = await nthEmail(moving.email);
    const newEmail = `moved.${randomUUID()}@example.com`;
    sentContacts.push(newEmail);
    const refused = await verifyWhileChanged(t, moving.id, sent.code, "email = $2", [newEmail]);
    expectError(refused.err as grpc.ServiceError, grpc.status.FAILED_PRECONDITION, "DESTINATION_CHANGED");
    expect((await t.customers("getCustomer", { id: moving.id })).customer).toMatchObject({ email: newEmail, emailVerified: false });
  });
});

describe("refusals", () => {
  it("no phone, closed customer, another tenant's customer, no code sent, malformed code", async () => {
    const t = await tenantCtx();
    const other = await tenantCtx();

    const noPhone = await t.newCustomer({ phone: false });
    expectError(
      await t.verifyFail("startPhoneVerification", { customerId: noPhone.id }),
      grpc.status.FAILED_PRECONDITION,
      "PHONE_NUMBER_MISSING",
    );

    // Closed after a code was sent: neither a new send nor the old code works.
    const closing = await t.newCustomer();
    await t.startEmail(closing.id);
    const { code } = await nthEmail(closing.email);
    await t.customers("closeCustomer", { id: closing.id, reason: "STATUS_REASON_CUSTOMER_REQUEST" });
    expectError(await t.verifyFail("startEmailVerification", { customerId: closing.id }), grpc.status.FAILED_PRECONDITION, "CUSTOMER_CLOSED");
    expectError(await t.verifyFail("startPhoneVerification", { customerId: closing.id }), grpc.status.FAILED_PRECONDITION, "CUSTOMER_CLOSED");
    expectError(await t.verifyFail("verifyEmail", { customerId: closing.id, code }), grpc.status.FAILED_PRECONDITION, "CUSTOMER_CLOSED");

    // Another tenant's customer does not exist for this tenant; nothing is sent.
    const theirs = await other.newCustomer();
    for (const [method, req] of [
      ["startEmailVerification", { customerId: theirs.id }],
      ["startPhoneVerification", { customerId: theirs.id }],
      ["verifyEmail", { customerId: theirs.id, code: "123456" }],
      ["verifyPhone", { customerId: theirs.id, code: "123456" }],
    ] as const) {
      expectError(await t.verifyFail(method, req), grpc.status.NOT_FOUND, "CUSTOMER_NOT_FOUND");
    }
    expectError(
      await t.verifyFail("startEmailVerification", { customerId: randomUUID() }),
      grpc.status.NOT_FOUND,
      "CUSTOMER_NOT_FOUND",
    );
    expect(emailsTo(theirs.email)).toHaveLength(0);
    expect(webhooksFor(theirs.id)).toHaveLength(0);

    // Never sent.
    const fresh = await t.newCustomer();
    expectError(await t.verifyFail("verifyEmail", { customerId: fresh.id, code: "123456" }), grpc.status.FAILED_PRECONDITION, "NO_ACTIVE_CODE");
    expectError(await t.verifyFail("verifyPhone", { customerId: fresh.id, code: "123456" }), grpc.status.FAILED_PRECONDITION, "NO_ACTIVE_CODE");

    // Malformed: refused by validation before any lookup.
    for (const method of ["verifyEmail", "verifyPhone"]) {
      for (const bad of ["12ab", "12345", "12345678901", ""]) {
        const err = await t.verifyFail(method, { customerId: fresh.id, code: bad });
        expectError(err, grpc.status.INVALID_ARGUMENT, "INVALID_ARGUMENT");
        expect(details(err).violations.map((x) => x.field)).toEqual(["code"]);
      }
    }
    const badId = await t.verifyFail("startEmailVerification", { customerId: "not-a-uuid" });
    expectError(badId, grpc.status.INVALID_ARGUMENT, "INVALID_ARGUMENT");
    expect(details(badId).violations.map((x) => x.field)).toEqual(["customer_id"]);
  });
});

// These two read what the flows above left behind, so they come last (tests in a file run in order).
describe("after the flows", () => {
  it("no log line ever holds a code that was sent, a stored HMAC of one, or a full email or phone number", () => {
    const codes = [...new Set(allSentCodes())];
    expect(codes.length).toBeGreaterThanOrEqual(15);
    expect(storedHashes.length).toBeGreaterThanOrEqual(10);
    expect(storedHashes.every((h) => /^[0-9a-f]{64}$/.test(h))).toBe(true);
    expect(sentContacts.length).toBeGreaterThanOrEqual(20);

    // The capture works and covers the verification calls (at debug level).
    const entries = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(server.app.logger.level).toBe("debug");
    const rpcs = entries.filter((e) => e.msg === "rpc" && String(e.rpc).startsWith("finhub.customer.v1.VerificationService/"));
    expect(rpcs.length).toBeGreaterThanOrEqual(40);

    const all = lines.join("\n");
    const leaks: string[] = [];
    // A code as a token of its own (not digits inside a longer number or a UUID).
    for (const code of codes) if (new RegExp(`(?<![0-9A-Za-z])${code}(?![0-9A-Za-z])`).test(all)) leaks.push(`code ${code}`);
    for (const h of storedHashes) if (all.includes(h)) leaks.push(`hmac ${h}`);
    for (const contact of sentContacts) if (all.includes(contact)) leaks.push(`contact ${contact}`);
    expect(leaks).toEqual([]);
  });

  it("every cms:* key in Redis expires and carries its tenant's {t:<uuid>} hash tag (auth failures: the client address)", async () => {
    const keys = await scanKeys("cms:*");
    // What the flows above must have left: live codes and each kind of limit counter.
    for (const kind of [":code:", ":rl:cooldown:", ":rl:hourly:", ":rl:tenant-budget", ":rl:verify-failures:"]) {
      expect(keys.some((k) => k.includes(kind)), kind).toBe(true);
    }
    const bad: string[] = [];
    for (const key of keys) {
      // The per-address failed-authentication counters (server/auth-failures.ts) belong to no
      // tenant: one single-key counter per address, which needs no hash tag.
      const perAddress = /^cms:authfail:[0-9a-fA-F.:]+$/.test(key);
      if (!perAddress && !/^cms:\{t:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\}:/.test(key)) bad.push(`no tenant hash tag: ${key}`);
      const pttl = await redis.pttl(key);
      if (pttl === -2) continue; // expired between SCAN and PTTL
      if (!(pttl > 0)) bad.push(`no expiry (PTTL ${pttl}): ${key}`);
    }
    expect(bad).toEqual([]);
  });
});

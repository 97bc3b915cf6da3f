// A Redis outage, end to end (verification_service.proto: "If the code store is unreachable,
// every call fails closed with UNAVAILABLE (reason VERIFICATION_UNAVAILABLE): retry with backoff;
// CustomerService keeps working meanwhile"). The test runs its own redis-server on a spare port
// (nothing persisted), points the service at it, kills it and starts it again on the same port.
// Codes are delivered to an in-test webhook receiver, which is how the test learns them.
import { randomUUID } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { signWebhook } from "../../src/verification/webhook.notifier.js";
import { bearer, createTenant, startServer, type TestServer, type TestTenant } from "../support/app.js";
import { details, grpc, grpcClients, metadata, unary, unaryError, type GrpcClient } from "../support/grpc.js";
import { startRedisServer, type RedisServer } from "../support/redis-server.js";

const VERIFICATION_SERVICE = "finhub.customer.v1.VerificationService";
const CUSTOMER_SERVICE = "finhub.customer.v1.CustomerService";
const DOMAIN = "customerms.finhub";
const WEBHOOK_SECRET = "x".repeat(40);
/** The longest any verification call may take while Redis is down. */
const PROMPT_MS = 5_000;

interface WebhookBody {
  tenant_id: string;
  customer_id: string;
  channel: string;
  destination: string;
  code: string;
  expire_time: string;
}

/** An HTTP receiver on 127.0.0.1:0 that keeps every JSON body (and its signature header). */
async function startWebhookReceiver() {
  const received: Array<{ body: WebhookBody; raw: string; signature: string }> = [];
  const server = http.createServer((req, res) => {
    let raw = "";
    req.setEncoding("utf8");
    req.on("data", (d: string) => (raw += d));
    req.on("end", () => {
      try {
        received.push({ body: JSON.parse(raw) as WebhookBody, raw, signature: String(req.headers["x-customerms-signature"] ?? "") });
        res.writeHead(204).end();
      } catch {
        res.writeHead(400).end();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/codes`,
    received,
    /** The last code delivered to this customer (fails if there is none). */
    lastCode(customerId: string): string {
      const mine = received.filter((r) => r.body.customer_id === customerId);
      expect(mine.length, `no code was delivered for customer ${customerId}`).toBeGreaterThan(0);
      return mine.at(-1)!.body.code;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function expectError(err: grpc.ServiceError, code: number, reason: string): void {
  const info = details(err).errorInfo;
  expect({ code: err.code, reason: info?.reason, domain: info?.domain }, err.message).toEqual({ code, reason, domain: DOMAIN });
}

describe("Redis outage: verification fails closed, customers keep working, recovery without restart", () => {
  let redis: RedisServer;
  let receiver: Awaited<ReturnType<typeof startWebhookReceiver>>;
  let server: TestServer;
  let clients: ReturnType<typeof grpcClients>;
  let verification: GrpcClient;
  let tenant: TestTenant;
  let md: grpc.Metadata;
  // Customers carried across the steps of the outage.
  let verifiedBefore: { id: string; code: string } | undefined; // A: verified before the outage
  let pendingBefore: { id: string; code: string } | undefined; // B: code sent, not yet verified
  let createdDuring: string | undefined; // D: created while Redis is down
  const startRequestId = randomUUID(); // D's StartEmailVerification, retried across the outage

  const customers = () => clients.customers;
  const call = <T = any>(client: GrpcClient, method: string, request: object) => unary<T>(client, method, request, md);
  const fail = (client: GrpcClient, method: string, request: object) => unaryError(client, method, request, md);
  const health = async (service: string): Promise<string> => (await unary(clients.health, "check", { service })).status;
  const createCustomer = async (tag: string) =>
    (
      await call(customers(), "createCustomer", {
        customer: { individual: { givenName: "Ada", familyName: "Lovelace" }, email: `ada.${tag}.${randomUUID()}@example.com`, countryCode: "GB" },
      })
    ).customer;
  /** Runs a call and fails the test if it took PROMPT_MS or longer. */
  const prompt = async <T>(what: string, run: () => Promise<T>): Promise<T> => {
    const t0 = performance.now();
    const out = await run();
    expect(performance.now() - t0, `${what} took too long`).toBeLessThan(PROMPT_MS);
    return out;
  };

  beforeAll(async () => {
    receiver = await startWebhookReceiver();
    redis = await startRedisServer();
    server = await startServer({
      REDIS_URL: redis.url,
      CUSTOMERMS_HEALTH_INTERVAL_MS: "300",
      CUSTOMERMS_NOTIFIER: "webhook",
      CUSTOMERMS_WEBHOOK_URL: receiver.url,
      CUSTOMERMS_WEBHOOK_SECRET: WEBHOOK_SECRET,
    });
    expect(server.app.codeStore).toBe("redis");
    clients = grpcClients(server.port);
    verification = clients.verification;
    tenant = await createTenant(server);
    md = metadata(bearer(tenant.apiKey));
  });

  afterAll(async () => {
    clients?.close();
    await server?.close();
    await redis?.stop("SIGTERM");
    await receiver?.close();
  });

  it("with Redis up: a code is delivered by webhook, verifies once, and a second code waits", async () => {
    for (const service of ["", CUSTOMER_SERVICE, VERIFICATION_SERVICE]) expect(await health(service), service).toBe("SERVING");

    const a = await createCustomer("a");
    const started = await call(verification, "startEmailVerification", { customerId: a.id });
    expect(started.codeLength).toBe(6);
    const delivered = receiver.received.at(-1)!;
    expect(delivered.body).toMatchObject({ tenant_id: tenant.id, customer_id: a.id, channel: "email", destination: a.email });
    expect(delivered.body.code).toMatch(/^[0-9]{6}$/);
    const t = Number(/^t=(\d+),/.exec(delivered.signature)?.[1]);
    expect(delivered.signature).toBe(signWebhook(WEBHOOK_SECRET, t, delivered.raw));

    const verified = await call(verification, "verifyEmail", { customerId: a.id, code: delivered.body.code });
    expect(verified.customer.emailVerified).toBe(true);
    // Single use while Redis is up: the code was consumed before the customer was marked verified.
    expectError(await fail(verification, "verifyEmail", { customerId: a.id, code: delivered.body.code }), grpc.status.FAILED_PRECONDITION, "NO_ACTIVE_CODE");
    verifiedBefore = { id: a.id, code: delivered.body.code };

    const b = await createCustomer("b");
    await call(verification, "startEmailVerification", { customerId: b.id });
    pendingBefore = { id: b.id, code: receiver.lastCode(b.id) };
  });

  it("Redis killed: verification answers UNAVAILABLE (VERIFICATION_UNAVAILABLE) promptly; CustomerService keeps working; health says so", async () => {
    expect(verifiedBefore && pendingBefore, "the previous step ran").toBeTruthy();
    await redis.stop("SIGKILL");
    const deliveredBefore = receiver.received.length;

    // CustomerService does not need Redis.
    const d = await prompt("CreateCustomer", () => createCustomer("d"));
    createdDuring = d.id;
    expect((await prompt("GetCustomer", () => call(customers(), "getCustomer", { id: verifiedBefore!.id }))).customer.emailVerified).toBe(true);
    const body = { ...d, individual: { ...d.individual, familyName: "King" } };
    const updated = await prompt("UpdateCustomer", () =>
      call(customers(), "updateCustomer", { customer: body, updateMask: { paths: ["individual.family_name"] } }),
    );
    expect(updated.customer.individual.familyName).toBe("King");

    // Every verification call fails closed: UNAVAILABLE, never OK, INTERNAL or UNKNOWN. Several
    // rounds: the first calls race the client noticing the loss, the later ones do not.
    for (let round = 0; round < 3; round++) {
      const attempts: Array<[string, string, object]> = [
        ["start D", "startEmailVerification", { customerId: d.id, requestId: startRequestId }],
        ["start B again", "startEmailVerification", { customerId: pendingBefore!.id }],
        ["verify B with its right code", "verifyEmail", { customerId: pendingBefore!.id, code: pendingBefore!.code }],
        ["verify A with its used code", "verifyEmail", { customerId: verifiedBefore!.id, code: verifiedBefore!.code }],
        ["verify D with a guess", "verifyEmail", { customerId: d.id, code: "123456" }],
      ];
      for (const [what, method, request] of attempts) {
        const err = await prompt(what, () => fail(verification, method, request));
        expect(err.code, `${what}: ${err.message}`).not.toBe(grpc.status.INTERNAL);
        expect(err.code, `${what}: ${err.message}`).not.toBe(grpc.status.UNKNOWN);
        expectError(err, grpc.status.UNAVAILABLE, "VERIFICATION_UNAVAILABLE");
        expect(err.code).toBe(14);
      }
    }
    // Nothing was sent while the store was down, and B's code did not verify.
    expect(receiver.received.length).toBe(deliveredBefore);
    expect((await call(customers(), "getCustomer", { id: pendingBefore!.id })).customer.emailVerified).toBe(false);

    // Health: VerificationService NOT_SERVING within 5 s; the server and CustomerService stay SERVING.
    await vi.waitFor(
      async () => {
        expect(await health("")).toBe("SERVING");
        expect(await health(CUSTOMER_SERVICE)).toBe("SERVING");
        expect(await health(VERIFICATION_SERVICE)).toBe("NOT_SERVING");
      },
      { timeout: 5_000, interval: 100 },
    );
    expect(await health("")).toBe("SERVING");
    expect(await health(CUSTOMER_SERVICE)).toBe("SERVING");
    // Still working after the health checks noticed.
    expect((await call(customers(), "getCustomer", { id: d.id })).customer.individual.familyName).toBe("King");
  });

  it("Redis back on the same port: verification works again without restarting the service", async () => {
    expect(createdDuring, "the previous step ran").toBeTruthy();
    await redis.start();

    // Bounded poll: StartEmailVerification until it succeeds; until then only UNAVAILABLE (any
    // other error ends the poll and fails below).
    let unexpected: unknown;
    const started = await vi.waitFor(
      async () => {
        try {
          return await prompt("start D after restart", () =>
            call(verification, "startEmailVerification", { customerId: createdDuring!, requestId: startRequestId }),
          );
        } catch (err) {
          const e = err as grpc.ServiceError;
          if (e.code === grpc.status.UNAVAILABLE && details(e).errorInfo?.reason === "VERIFICATION_UNAVAILABLE") throw err;
          unexpected = err;
          return undefined;
        }
      },
      { timeout: 30_000, interval: 200 },
    );
    expect(unexpected).toBeUndefined();
    expect(started?.codeLength).toBe(6);
    // The failed attempts with this request_id left no claim behind (they rolled back), and the
    // success is now the answer a retry gets: the same response, and no second message.
    const delivered = receiver.received.length;
    expect(await call(verification, "startEmailVerification", { customerId: createdDuring!, requestId: startRequestId })).toEqual(started);
    expect(receiver.received.length).toBe(delivered);

    const code = receiver.lastCode(createdDuring!);
    const verified = await call(verification, "verifyEmail", { customerId: createdDuring!, code });
    expect(verified.customer.id).toBe(createdDuring);
    expect(verified.customer.emailVerified).toBe(true);
    expect(verified.customer.individual.familyName).toBe("King");
    expect((await call(customers(), "getCustomer", { id: createdDuring! })).customer.emailVerified).toBe(true);

    await vi.waitFor(async () => expect(await health(VERIFICATION_SERVICE)).toBe("SERVING"), { timeout: 5_000, interval: 100 });
    expect(await health("")).toBe("SERVING");
    expect(await health(CUSTOMER_SERVICE)).toBe("SERVING");
  });

  it("no code is accepted twice across the outage, and a code lost with Redis is refused", async () => {
    expect(verifiedBefore && pendingBefore && createdDuring, "the previous steps ran").toBeTruthy();

    // A: verified before the outage. verify() does not look at email_verified; it reserves the
    // code first, and that code was consumed (deleted) before A was marked verified, so the
    // answer is NO_ACTIVE_CODE (not ALREADY_VERIFIED, which only StartEmailVerification gives).
    expectError(
      await fail(verification, "verifyEmail", { customerId: verifiedBefore!.id, code: verifiedBefore!.code }),
      grpc.status.FAILED_PRECONDITION,
      "NO_ACTIVE_CODE",
    );
    expectError(
      await fail(verification, "startEmailVerification", { customerId: verifiedBefore!.id }),
      grpc.status.FAILED_PRECONDITION,
      "ALREADY_VERIFIED",
    );

    // B: sent before the outage, never verified. The redis-server kept it in memory only
    // (--save ""), so the kill lost it: the right code no longer verifies.
    expectError(
      await fail(verification, "verifyEmail", { customerId: pendingBefore!.id, code: pendingBefore!.code }),
      grpc.status.FAILED_PRECONDITION,
      "NO_ACTIVE_CODE",
    );
    expect((await call(customers(), "getCustomer", { id: pendingBefore!.id })).customer.emailVerified).toBe(false);

    // D: verified after the restart: its code is used up too.
    expectError(
      await fail(verification, "verifyEmail", { customerId: createdDuring!, code: receiver.lastCode(createdDuring!) }),
      grpc.status.FAILED_PRECONDITION,
      "NO_ACTIVE_CODE",
    );
  });
});

// Two replicas: two service processes on the same database and the same (test-owned)
// redis-server. A tenant's send budget of N codes per minute is N across both, not 2N, even with
// the sends racing; an API key revoked through one replica is refused by the other within 5 s.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { completeIndividual } from "../support/fixtures.js";
import { details, unary } from "../support/grpc.js";
import { startWebhookReceiver, type WebhookReceiver } from "../support/receivers.js";
import { startRedisServer, type RedisServer } from "../support/redis-server.js";
import { record } from "./support/results.js";
import { adminMetadata, codeName, ServiceProcess, Tally, until } from "./support/service.js";

const BUDGET = 5;
const ATTEMPTS = 3 * BUDGET; // racing, half through each replica

describe("two replicas on one database and one Redis", () => {
  let redis: RedisServer;
  let receiver: WebhookReceiver;
  const replicas: ServiceProcess[] = [];

  beforeAll(async () => {
    redis = await startRedisServer();
    receiver = await startWebhookReceiver();
    for (let i = 0; i < 2; i++) {
      const r = new ServiceProcess({
        redisUrl: redis.url,
        env: { CUSTOMERMS_NOTIFIER: "webhook", CUSTOMERMS_WEBHOOK_URL: receiver.url, CUSTOMERMS_WEBHOOK_SECRET: "w".repeat(40) },
      });
      replicas.push(r);
    }
    await Promise.all(replicas.map((r) => r.start()));
  });
  afterAll(async () => {
    for (const r of replicas) await r.dispose();
    await redis?.stop();
    await receiver?.close();
  });

  it("a send budget of 5 per minute allows exactly 5 sends across both replicas; a key revoked via one is refused by the other within 5 s", async () => {
    const [a, b] = replicas as [ServiceProcess, ServiceProcess];
    expect(a.pid).not.toBe(b.pid);
    const tenant = await a.createTenant({ verificationPolicy: { sendBudgetPerMinute: BUDGET } });
    const customers: string[] = [];
    for (let i = 0; i < ATTEMPTS; i++) {
      customers.push((await unary(a.clients.customers, "createCustomer", { customer: completeIndividual("GB") }, tenant.md)).customer.id);
    }
    // Both replicas know the key (and cache it) before the race.
    for (const r of replicas) await unary(r.clients.customers, "getCustomer", { id: customers[0] }, tenant.md);

    const sends = new Tally();
    const perReplica = [new Tally(), new Tally()];
    await Promise.all(
      customers.map(async (customerId, i) => {
        const r = replicas[i % 2]!;
        try {
          await unary(r.clients.verification, "startEmailVerification", { customerId }, tenant.md, { deadline: Date.now() + 10_000 });
          sends.add("OK");
          perReplica[i % 2]!.add("OK");
        } catch (err) {
          const name = `${codeName(err)}/${details(err as never).errorInfo?.reason ?? ""}`;
          sends.add(name);
          perReplica[i % 2]!.add(name);
        }
      }),
    );
    expect(sends.counts).toEqual({ OK: BUDGET, "RESOURCE_EXHAUSTED/TENANT_SEND_BUDGET_EXCEEDED": ATTEMPTS - BUDGET });
    const deliveredTo = new Set(receiver.messages.filter((m) => customers.includes(m.json?.customer_id)).map((m) => m.json.customer_id));
    expect(deliveredTo.size).toBe(BUDGET);
    expect(receiver.messages.filter((m) => customers.includes(m.json?.customer_id)).length).toBe(BUDGET);

    // Revocation: through A; B, which has the key cached, refuses it within 5 s.
    const t0 = performance.now();
    await unary(a.clients.tenants, "revokeApiKey", { tenantId: tenant.id, apiKeyId: tenant.keyId }, adminMetadata());
    const refusedByA = codeName(await unary(a.clients.customers, "getCustomer", { id: customers[0] }, tenant.md).then(() => undefined, (e) => e));
    expect(refusedByA).toBe("UNAUTHENTICATED");
    const acceptedByBMeanwhile = new Tally();
    const refusedAfter = await until(async () => {
      const code = codeName(await unary(b.clients.customers, "getCustomer", { id: customers[0] }, tenant.md).then(() => undefined, (e) => e));
      acceptedByBMeanwhile.add(code);
      return code === "UNAUTHENTICATED";
    }, 5_000, 50);
    expect(refusedAfter, "B refuses the revoked key within 5 s").toBeDefined();
    const revocationMs = performance.now() - t0;
    // And keeps refusing it.
    const later = new Tally();
    for (let i = 0; i < 10; i++) {
      later.add(codeName(await unary(replicas[i % 2]!.clients.customers, "getCustomer", { id: customers[0] }, tenant.md).then(() => undefined, (e) => e)));
    }
    expect(later.counts).toEqual({ UNAUTHENTICATED: 10 });
    expect(replicas.every((r) => r.running)).toBe(true);

    record({
      id: "06-replicas",
      title: "Two replicas: shared rate limit, revocation",
      proves: "Limits live in Redis, not in a process: a budget of N sends is N across replicas even when racing; a revoked API key stops working everywhere within the 2 s key cache.",
      file: "test/faults/replicas.test.ts",
      test: "a send budget of 5 per minute allows exactly 5 sends across both replicas; a key revoked via one is refused by the other within 5 s",
      figures: {
        "send budget per minute": BUDGET,
        "racing StartEmailVerification calls (half per replica)": ATTEMPTS,
        "OK across both": sends.get("OK"),
        "OK via replica A": perReplica[0]!.get("OK"),
        "OK via replica B": perReplica[1]!.get("OK"),
        "RESOURCE_EXHAUSTED (TENANT_SEND_BUDGET_EXCEEDED)": sends.get("RESOURCE_EXHAUSTED/TENANT_SEND_BUDGET_EXCEEDED"),
        "codes delivered": deliveredTo.size,
        "revoke via A → refused by B (ms)": Math.round(revocationMs),
        "calls B still accepted after the revoke": acceptedByBMeanwhile.get("OK"),
        "calls after that, both replicas, refused": later.get("UNAUTHENTICATED"),
      },
    });
  });
});

// Redis killed under verification load. The test owns a redis-server on a spare port (nothing
// persisted) and a webhook receiver the service delivers codes to. 8 verification workers (Start
// then Verify with the delivered code, one customer each) and 8 customer workers (create, get,
// update) run together; after 20 customers are verified the redis-server is SIGKILLed. Then:
// every verification call fails closed with UNAVAILABLE, customer RPCs see 0 errors; the
// redis-server is started again and verification works again within 30 s without restarting the
// service; no code is ever accepted twice (each delivered code is refused when tried again).
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { completeIndividual } from "../support/fixtures.js";
import { details, unary } from "../support/grpc.js";
import { startWebhookReceiver, type WebhookReceiver } from "../support/receivers.js";
import { startRedisServer, type RedisServer } from "../support/redis-server.js";
import { startLoad } from "./support/load.js";
import { record } from "./support/results.js";
import { codeName, ServiceProcess, Tally, until } from "./support/service.js";

const CUSTOMERS = 60;
const KILL_AFTER_VERIFIED = 20;
const RECOVERY_LIMIT_MS = 30_000;

describe("Redis killed under verification load", () => {
  let redis: RedisServer;
  let receiver: WebhookReceiver;
  let service: ServiceProcess;

  beforeAll(async () => {
    redis = await startRedisServer();
    receiver = await startWebhookReceiver();
    service = new ServiceProcess({
      redisUrl: redis.url,
      env: { CUSTOMERMS_NOTIFIER: "webhook", CUSTOMERMS_WEBHOOK_URL: receiver.url, CUSTOMERMS_WEBHOOK_SECRET: "w".repeat(40) },
    });
    await service.start();
  });
  afterAll(async () => {
    await service?.dispose();
    await redis?.stop();
    await receiver?.close();
  });

  it("verification UNAVAILABLE while down, customer RPCs 0 errors, recovery within 30 s without a restart, no code accepted twice", async () => {
    const tenant = await service.createTenant();
    const clients = service.clients;
    const opts = () => ({ deadline: Date.now() + 10_000 });
    const customers: string[] = [];
    for (let i = 0; i < CUSTOMERS; i++) {
      customers.push((await unary(clients.customers, "createCustomer", { customer: completeIndividual("GB") }, tenant.md)).customer.id);
    }
    const codeOf = async (customerId: string, after: number) =>
      (await receiver.waitForMessage((m) => m.json?.customer_id === customerId && receiver.messages.indexOf(m) >= after, 5_000)).json.code as string;

    let killedAt = 0; // performance.now() once the redis-server has exited
    let kill: Promise<void> | undefined;
    const verification = { before: new Tally(), after: new Tally() };
    const reasons = new Tally();
    const accepted = new Map<string, number>(); // customer:code -> times accepted
    const delivered: Array<{ customerId: string; code: string }> = [];
    let verified = 0;
    const outcome = (t0: number, err: unknown) => {
      // Calls that started after the kill completed must fail closed; the ones in flight during it may go either way.
      const tally = killedAt > 0 && t0 > killedAt ? verification.after : verification.before;
      tally.add(codeName(err));
      if (err) reasons.add(`${codeName(err)}/${details(err as never).errorInfo?.reason ?? ""}`);
    };
    const verifyLoad = startLoad({ inFlight: 8, maxCalls: CUSTOMERS, maxMs: 60_000 }, async (i) => {
      const customerId = customers[i]!;
      let t0 = performance.now();
      const mark = receiver.messages.length;
      try {
        await unary(clients.verification, "startEmailVerification", { customerId, requestId: randomUUID() }, tenant.md, opts());
        outcome(t0, undefined);
      } catch (err) {
        outcome(t0, err);
        return;
      }
      const code = await codeOf(customerId, mark);
      delivered.push({ customerId, code });
      t0 = performance.now();
      try {
        await unary(clients.verification, "verifyEmail", { customerId, code }, tenant.md, opts());
        outcome(t0, undefined);
        accepted.set(`${customerId}:${code}`, (accepted.get(`${customerId}:${code}`) ?? 0) + 1);
        if (++verified === KILL_AFTER_VERIFIED) {
          kill = redis.stop("SIGKILL").then(() => {
            killedAt = performance.now();
          });
        }
      } catch (err) {
        outcome(t0, err);
      }
    });
    // Customer traffic throughout: create, read, update.
    const customerTally = new Tally();
    const customerDuringOutage = new Tally();
    let restartedAt = 0;
    const customerLoad = startLoad({ inFlight: 8, maxCalls: 3_000, maxMs: 60_000 }, async (i) => {
      const t0 = performance.now();
      const during = () => killedAt > 0 && t0 > killedAt && restartedAt === 0;
      try {
        if (i % 3 === 0) {
          await unary(clients.customers, "createCustomer", { customer: completeIndividual("GB") }, tenant.md, opts());
        } else if (i % 3 === 1) {
          await unary(clients.customers, "getCustomer", { id: customers[i % CUSTOMERS] }, tenant.md, opts());
        } else {
          await unary(clients.customers, "listCustomers", { pageSize: 10 }, tenant.md, opts());
        }
        customerTally.add("OK");
        if (during()) customerDuringOutage.add("OK");
      } catch (err) {
        customerTally.add(codeName(err));
        if (during()) customerDuringOutage.add(codeName(err));
      }
    });
    await verifyLoad.done;
    await kill;
    expect(killedAt, "the redis-server was killed under load").toBeGreaterThan(0);
    // While down: health says VerificationService NOT_SERVING, the server SERVING.
    const healthDown = await until(async () => (await service.health("finhub.customer.v1.VerificationService")) === "NOT_SERVING", 5_000);
    expect(healthDown).toBeDefined();
    expect(await service.health("")).toBe("SERVING");
    expect(await service.health("finhub.customer.v1.CustomerService")).toBe("SERVING");
    // A fixed probe while down: 10 more starts (customers never sent a code), all UNAVAILABLE.
    const unsent = customers.filter((id) => !delivered.some((d) => d.customerId === id));
    expect(unsent.length).toBeGreaterThanOrEqual(11);
    for (const customerId of unsent.slice(1, 11)) {
      try {
        await unary(clients.verification, "startEmailVerification", { customerId }, tenant.md, opts());
        verification.after.add("OK");
      } catch (err) {
        verification.after.add(codeName(err));
        reasons.add(`${codeName(err)}/${details(err as never).errorInfo?.reason ?? ""}`);
      }
    }

    // Redis back on the same port, the service untouched: verification recovers by itself.
    await redis.start();
    restartedAt = performance.now();
    const retryCustomer = unsent[0]!;
    let recoveredCode = "";
    const recovery = await until(
      async () => {
        const mark = receiver.messages.length;
        try {
          await unary(clients.verification, "startEmailVerification", { customerId: retryCustomer }, tenant.md, opts());
          recoveredCode = await codeOf(retryCustomer, mark);
          return true;
        } catch {
          return false;
        }
      },
      RECOVERY_LIMIT_MS,
      100,
    );
    expect(recovery, "verification works again without restarting the service").toBeDefined();
    const recoveryMs = performance.now() - restartedAt;
    delivered.push({ customerId: retryCustomer, code: recoveredCode });
    await unary(clients.verification, "verifyEmail", { customerId: retryCustomer, code: recoveredCode }, tenant.md, opts());
    accepted.set(`${retryCustomer}:${recoveredCode}`, 1);
    customerLoad.stop();
    await customerLoad.done;

    // Customer RPCs throughout: not one error.
    expect(customerTally.counts).toEqual({ OK: customerTally.total });
    expect(customerDuringOutage.total).toBeGreaterThan(0);
    // Every verification call begun after the kill failed closed with UNAVAILABLE/VERIFICATION_UNAVAILABLE.
    expect(verification.after.counts).toEqual({ UNAVAILABLE: verification.after.total });
    expect(verification.before.total - verification.before.get("OK")).toBe(verification.before.get("UNAVAILABLE"));
    expect(Object.keys(reasons.counts)).toEqual(["UNAVAILABLE/VERIFICATION_UNAVAILABLE"]);
    // No code accepted twice: every delivered code is refused now (consumed, or lost with Redis).
    const again = new Tally();
    for (const d of delivered) {
      try {
        await unary(clients.verification, "verifyEmail", d, tenant.md, opts());
        again.add("OK");
      } catch (err) {
        again.add(`${codeName(err)}/${details(err as never).errorInfo?.reason ?? ""}`);
      }
    }
    expect(again.counts).toEqual({ "FAILED_PRECONDITION/NO_ACTIVE_CODE": delivered.length });
    expect([...accepted.values()].every((n) => n === 1)).toBe(true);
    expect(await until(async () => (await service.health("finhub.customer.v1.VerificationService")) === "SERVING", 5_000)).toBeDefined();
    expect(service.running).toBe(true);
    expect(service.history.length).toBe(1); // never restarted

    record({
      id: "01-redis",
      title: "Redis killed under verification load, restarted",
      proves: "Verification fails closed (UNAVAILABLE) while Redis is down, customer RPCs are unaffected, verification recovers by itself when Redis returns, and no code is ever accepted twice.",
      file: "test/faults/redis.test.ts",
      test: "verification UNAVAILABLE while down, customer RPCs 0 errors, recovery within 30 s without a restart, no code accepted twice",
      figures: {
        "verification calls before/during the kill": verification.before.total,
        "of those OK": verification.before.get("OK"),
        "of those UNAVAILABLE": verification.before.get("UNAVAILABLE"),
        "verification calls begun after the kill": verification.after.total,
        "of those UNAVAILABLE (VERIFICATION_UNAVAILABLE)": verification.after.get("UNAVAILABLE"),
        "customer RPCs during the test": customerTally.total,
        "customer RPC errors": customerTally.total - customerTally.get("OK"),
        "customer RPCs begun while Redis was down": customerDuringOutage.total,
        "of those errors": customerDuringOutage.total - customerDuringOutage.get("OK"),
        "Redis restart → first verification OK (ms)": Math.round(recoveryMs),
        "codes accepted": accepted.size,
        "codes delivered and tried again afterwards": delivered.length,
        "of those accepted a second time": again.get("OK"),
        "service restarts": service.history.length - 1,
      },
    });
  });
});

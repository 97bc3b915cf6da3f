// Deadlines: a grpc-js client gives UpdateCustomer 50 ms while the test holds the customer's row
// lock. The call must end DEADLINE_EXCEEDED, and the service's statement must be cancelled in
// PostgreSQL (no backend left waiting on the lock in pg_stat_activity), so the update never lands
// once the lock is released. Repeated on 10 customers for exact counts.
// GetCustomer's one statement (the customer_by_id function, db/scope.ts tenantCall) carries the
// deadline as its lock_timeout, the only wait a read can have: a read behind a table lock must
// give up with the caller too. (Here, not in `npm test`: a table lock would stall every test file
// sharing that run's database; this suite has its own and runs one file at a time.)
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { completeIndividual } from "../support/fixtures.js";
import { unary } from "../support/grpc.js";
import { percentile } from "./support/load.js";
import { record } from "./support/results.js";
import { codeName, query, ServiceProcess, Tally, until } from "./support/service.js";

const ROUNDS = 10;
const DEADLINE_MS = 50;

describe("deadlines reach the database", () => {
  const service = new ServiceProcess();
  beforeAll(() => service.start());
  afterAll(() => service.dispose());

  it("a 50 ms deadline on an update stuck behind a row lock: DEADLINE_EXCEEDED, the query is gone from pg_stat_activity, nothing written", async () => {
    const tenant = await service.createTenant();
    const outcomes = new Tally();
    const answerMs: number[] = [];
    const goneMs: number[] = [];
    let seenWaiting = 0;
    const waiters = async () =>
      (
        await query<{ n: number }>(
          "select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock' and pid <> pg_backend_pid()",
        )
      )[0]!.n;
    const ids: string[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const { customer } = await unary(service.clients.customers, "createCustomer", { customer: completeIndividual("GB") }, tenant.md);
      ids.push(customer.id);
      const holder = new pg.Client({ connectionString: service.databaseUrl });
      await holder.connect();
      try {
        await holder.query("begin");
        await holder.query("select id from customers where tenant_id = $1 and id = $2 for update", [tenant.id, customer.id]);
        const t0 = performance.now();
        // Watch (bounded by the call itself) whether the UPDATE reaches PostgreSQL and waits there.
        let inCall = true;
        let seen = false;
        const watcher = (async () => {
          for (let i = 0; inCall && !seen && i < 1_000; i++) seen = (await waiters()) > 0;
        })();
        try {
          await unary(
            service.clients.customers,
            "updateCustomer",
            { customer: { id: customer.id, metadata: { late: "yes" } }, updateMask: { paths: ["metadata"] } },
            tenant.md,
            { deadline: Date.now() + DEADLINE_MS },
          );
          outcomes.add("OK");
        } catch (err) {
          outcomes.add(codeName(err));
        }
        answerMs.push(performance.now() - t0);
        inCall = false;
        await watcher;
        if (seen) seenWaiting++;
        // While the test still holds the lock, the service's statement must be gone.
        const gone = await until(async () => (await waiters()) === 0, 5_000, 10);
        expect(gone, `round ${round}: a backend still waits on the lock`).toBeDefined();
        goneMs.push(performance.now() - t0);
      } finally {
        await holder.query("rollback");
        await holder.end();
      }
    }
    expect(outcomes.counts).toEqual({ DEADLINE_EXCEEDED: ROUNDS });
    // The cancellation is observed in PostgreSQL, not only before the query was sent (a round may
    // race past the watcher, so at least one, not all ten).
    expect(seenWaiting).toBeGreaterThan(0);
    const rows = await query<{ version: number; late: string | null }>(
      "select version, metadata->>'late' as late from customers where tenant_id = $1 and id = any($2::uuid[])",
      [tenant.id, ids],
    );
    expect(rows).toEqual(ids.map(() => ({ version: 1, late: null })));
    const [events] = await query<{ n: number }>("select count(*)::int as n from customer_events where tenant_id = $1 and type = 'CUSTOMER_UPDATED'", [tenant.id]);
    expect(events!.n).toBe(0);
    // The service is still healthy and serving.
    expect(await service.health("")).toBe("SERVING");

    record({
      id: "05-deadline",
      title: "Client deadline of 50 ms on a call held by a row lock",
      proves: "A client deadline ends the call DEADLINE_EXCEEDED and cancels the PostgreSQL statement (no waiter left in pg_stat_activity); the write never lands later.",
      file: "test/faults/deadline.test.ts",
      test: "a 50 ms deadline on an update stuck behind a row lock: DEADLINE_EXCEEDED, the query is gone from pg_stat_activity, nothing written",
      figures: {
        rounds: ROUNDS,
        "DEADLINE_EXCEEDED": outcomes.get("DEADLINE_EXCEEDED"),
        "other outcomes": outcomes.total - outcomes.get("DEADLINE_EXCEEDED"),
        "client saw the error, p50 (ms)": percentile(answerMs, 50),
        "client saw the error, max (ms)": Math.max(...answerMs),
        "rounds where the UPDATE was seen waiting on the lock in pg_stat_activity": seenWaiting,
        "lock waiter gone from pg_stat_activity, max (ms after the call)": Math.max(...goneMs),
        "updates written after the locks were released": rows.filter((r) => r.version !== 1).length,
      },
    });
  });
  it("a 300 ms deadline on a read behind a table lock: DEADLINE_EXCEEDED, and the read stops waiting while the lock is held", async () => {
    const tenant = await service.createTenant();
    const { customer } = await unary(service.clients.customers, "createCustomer", { customer: completeIndividual("GB") }, tenant.md);
    // Warm: the API key and the tenant's data key are cached, so the read's only statement is
    // customer_by_id.
    expect((await unary(service.clients.customers, "getCustomer", { id: customer.id }, tenant.md)).customer.id).toBe(customer.id);
    const waiters = async () =>
      (
        await query<{ n: number }>(
          "select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock' and pid <> pg_backend_pid()",
        )
      )[0]!.n;
    const holder = new pg.Client({ connectionString: service.databaseUrl });
    await holder.connect();
    try {
      await holder.query("begin");
      await holder.query("lock table customers in access exclusive mode");
      const t0 = performance.now();
      let outcome = "OK";
      try {
        await unary(service.clients.customers, "getCustomer", { id: customer.id }, tenant.md, { deadline: Date.now() + 300 });
      } catch (err) {
        outcome = codeName(err);
      }
      expect(outcome).toBe("DEADLINE_EXCEEDED");
      expect(performance.now() - t0).toBeLessThan(3_000);
      // The read gave up by itself while the lock is still held: no pooled connection waits on.
      expect(await until(async () => (await waiters()) === 0, 5_000, 10)).toBeDefined();
    } finally {
      await holder.query("rollback");
      await holder.end();
    }
    expect((await unary(service.clients.customers, "getCustomer", { id: customer.id }, tenant.md)).customer.id).toBe(customer.id);
  });
});

// SIGTERM under load: a grpc-js client has 32 unary calls in flight (UpdateCustomer, held inside
// the service by row locks the test owns, so they are certainly in flight when the signal
// arrives) and a WatchCustomerEvents stream open. The service must stop accepting connections,
// end the stream with UNAVAILABLE (so the client reconnects elsewhere), let all 32 calls finish
// OK once the locks go, and exit 0 within its drain timeout.
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { watch } from "../support/event-consumer.js";
import { completeIndividual } from "../support/fixtures.js";
import { grpc, grpcClients, unary } from "../support/grpc.js";
import { record, since } from "./support/results.js";
import { acceptsConnections, codeName, query, ServiceProcess, Tally, until } from "./support/service.js";

const IN_FLIGHT = 32;
const GRACE_MS = 15_000;

describe("SIGTERM under load", () => {
  const service = new ServiceProcess({ env: { DATABASE_POOL_MAX: "40", CUSTOMERMS_SHUTDOWN_GRACE_MS: String(GRACE_MS) } });
  beforeAll(() => service.start());
  afterAll(() => service.dispose());

  it("32 in-flight unary calls complete OK, new connections are refused, the stream ends UNAVAILABLE, exit 0 within the drain timeout", async () => {
    const tenant = await service.createTenant();
    const ids: string[] = [];
    for (let i = 0; i < IN_FLIGHT; i++) {
      ids.push((await unary(service.clients.customers, "createCustomer", { customer: completeIndividual("GB") }, tenant.md)).customer.id);
    }
    const stream = watch(service.clients.customers, tenant.md);
    await stream.until((c) => c.events.length === IN_FLIGHT, 10_000, "the 32 CUSTOMER_CREATED events");

    // The test holds all 32 rows: the updates enter the service and wait on the locks.
    const holder = new pg.Client({ connectionString: service.databaseUrl });
    await holder.connect();
    let released = false;
    try {
      await holder.query("begin");
      await holder.query("select id from customers where tenant_id = $1 and id = any($2::uuid[]) for update", [tenant.id, ids]);
      const outcomes = new Tally();
      const calls = ids.map((id) =>
        unary(
          service.clients.customers,
          "updateCustomer",
          { customer: { id, metadata: { drained: "yes" } }, updateMask: { paths: ["metadata"] } },
          tenant.md,
          { deadline: Date.now() + 60_000 },
        ).then(
          () => outcomes.add("OK"),
          (err) => outcomes.add(codeName(err)),
        ),
      );
      const waiting = async () =>
        (
          await query<{ n: number }>(
            "select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock' and query ilike '%update%customers%'",
          )
        )[0]!.n;
      expect(await until(async () => (await waiting()) === IN_FLIGHT, 15_000)).toBeDefined();
      expect(outcomes.total).toBe(0);

      const t0 = performance.now();
      service.child.proc.kill("SIGTERM");
      // New connections are refused while the 32 are still held.
      const refusedAfter = await until(async () => !(await acceptsConnections(service.port)), 5_000);
      expect(refusedAfter, "the listener closed").toBeDefined();
      const fresh = grpcClients(service.port);
      let freshCode = "";
      try {
        await unary(fresh.customers, "getCustomer", { id: ids[0] }, tenant.md, { deadline: Date.now() + 2_000 });
        freshCode = "OK";
      } catch (err) {
        freshCode = codeName(err);
      } finally {
        fresh.close();
      }
      expect(freshCode).toBe("UNAVAILABLE");
      // The stream ends first, UNAVAILABLE: its client reconnects (to another replica).
      const end = await stream.ended;
      expect(end.code).toBe(grpc.status.UNAVAILABLE);
      const streamEndedMs = since(t0);
      // Still draining: the process is alive and none of the 32 has been answered.
      expect(service.running).toBe(true);
      expect(outcomes.total).toBe(0);
      expect(await waiting()).toBe(IN_FLIGHT);

      await holder.query("rollback");
      released = true;
      await Promise.all(calls);
      expect(outcomes.counts).toEqual({ OK: IN_FLIGHT });
      const exit = await Promise.race([service.child.exited, new Promise((r) => setTimeout(r, GRACE_MS + 5_000, "timeout").unref())]);
      const exitMs = since(t0);
      expect(exit).toBe(0);
      expect(exitMs).toBeLessThan(GRACE_MS);
      expect(service.child.stdout()).toContain('"msg":"stopped"');

      const [row] = await query<{ n: number }>(
        "select count(*)::int as n from customers where tenant_id = $1 and metadata->>'drained' = 'yes' and version = 2",
        [tenant.id],
      );
      expect(row!.n).toBe(IN_FLIGHT);

      record({
        id: "03-sigterm",
        title: "SIGTERM under load (grpc-js, 32 in flight)",
        proves: "A rolling restart drops nothing: in-flight unary calls finish OK, new connections are refused, streams end UNAVAILABLE so clients reconnect, exit 0 within the drain timeout.",
        file: "test/faults/sigterm.test.ts",
        test: "32 in-flight unary calls complete OK, new connections are refused, the stream ends UNAVAILABLE, exit 0 within the drain timeout",
        figures: {
          "unary calls in flight at SIGTERM": IN_FLIGHT,
          "of those completed OK": outcomes.get("OK"),
          "of those failed": outcomes.total - outcomes.get("OK"),
          "SIGTERM → listener refuses connections (ms)": Math.round(refusedAfter!),
          "call on a new connection after SIGTERM": freshCode,
          "SIGTERM → stream ended UNAVAILABLE (ms)": streamEndedMs,
          "SIGTERM → exit (ms, includes the test holding the locks)": exitMs,
          "exit code": exit as number,
          "drain timeout (ms)": GRACE_MS,
          "updates committed": row!.n,
        },
      });
    } finally {
      if (!released) await holder.query("rollback").catch(() => undefined);
      await holder.end();
    }
  });
});

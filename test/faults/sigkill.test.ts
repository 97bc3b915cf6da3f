// SIGKILL under write load, then a restart: every create the service acknowledged (OK) is in the
// database with its event; retrying every request with its own request_id (the OK'd ones and the
// ones the crash cut off) never duplicates: one row per request_id, exactly.
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { completeIndividual } from "../support/fixtures.js";
import { unary } from "../support/grpc.js";
import { startLoad } from "./support/load.js";
import { record, since } from "./support/results.js";
import { codeName, query, ServiceProcess, Tally } from "./support/service.js";

const IN_FLIGHT = 16;
const KILL_AFTER_OK = 200;
const MAX_CALLS = 3_000;

describe("SIGKILL under write load", () => {
  const service = new ServiceProcess();
  beforeAll(() => service.start());
  afterAll(() => service.dispose());

  it("after a restart every OK'd create is present once, with its event; retries with the same request_id add nothing", async () => {
    const tenant = await service.createTenant();
    const requests: Array<{ requestId: string; customer: object }> = [];
    const okIds = new Map<string, string>(); // request_id -> customer id
    const tally = new Tally();
    let killed: Promise<{ exit: number | string; ms: number }> | undefined;
    const clients = service.clients;
    const load = startLoad({ inFlight: IN_FLIGHT, maxCalls: MAX_CALLS, maxMs: 60_000 }, async (i) => {
      const request = { requestId: randomUUID(), customer: completeIndividual("GB") };
      requests[i] = request;
      try {
        const res = await unary(clients.customers, "createCustomer", request, tenant.md, { deadline: Date.now() + 10_000 });
        okIds.set(request.requestId, res.customer.id);
        tally.add("OK");
        if (okIds.size === KILL_AFTER_OK && killed === undefined) {
          // Killed from the callback of the 200th acknowledgement: 15 others are in flight.
          killed = service.kill("SIGKILL");
          load.stop();
        }
      } catch (err) {
        tally.add(codeName(err));
        load.stop();
      }
    });
    await load.done;
    expect(killed, "the kill was triggered").toBeDefined();
    const { exit } = await killed!;
    expect(exit).toBe("SIGKILL");
    const sent = requests.filter(Boolean);
    const failed = sent.filter((r) => !okIds.has(r.requestId));
    expect(tally.get("OK")).toBe(okIds.size);
    expect(okIds.size).toBeGreaterThanOrEqual(KILL_AFTER_OK);
    // Every failure is the connection going away (UNAVAILABLE), never INTERNAL/UNKNOWN.
    expect(tally.total - tally.get("OK")).toBe(tally.get("UNAVAILABLE"));

    const t0 = performance.now();
    await service.start();
    const restartMs = since(t0);

    // Every acknowledged write is there, each with exactly one CUSTOMER_CREATED event.
    const rows = await query<{ id: string; events: number }>(
      `select c.id, (select count(*)::int from customer_events e where e.tenant_id = c.tenant_id and e.customer_id = c.id and e.type = 'CUSTOMER_CREATED') as events
         from customers c where c.tenant_id = $1`,
      [tenant.id],
    );
    const inDb = new Map(rows.map((r) => [r.id, r.events]));
    const missing = [...okIds.values()].filter((id) => !inDb.has(id));
    expect(missing).toEqual([]);
    expect([...okIds.values()].map((id) => inDb.get(id))).toEqual([...okIds.values()].map(() => 1));
    const committedNotAcked = rows.length - okIds.size;

    // Retry every request with its own request_id: OK'd ones replay their customer; the ones
    // the crash cut off either replay a commit the client never heard of or create it now.
    const retry = new Tally();
    for (const r of sent) {
      try {
        const res = await unary(service.clients.customers, "createCustomer", r, tenant.md, { deadline: Date.now() + 10_000 });
        retry.add("OK");
        if (okIds.has(r.requestId)) expect(res.customer.id).toBe(okIds.get(r.requestId));
      } catch (err) {
        retry.add(codeName(err));
      }
    }
    expect(retry.counts).toEqual({ OK: sent.length });
    const [after] = await query<{ customers: number; events: number }>(
      `select (select count(*)::int from customers where tenant_id = $1) as customers,
              (select count(*)::int from customer_events where tenant_id = $1 and type = 'CUSTOMER_CREATED') as events`,
      [tenant.id],
    );
    expect(after).toEqual({ customers: sent.length, events: sent.length });

    record({
      id: "04-sigkill",
      title: "SIGKILL under write load, restart",
      proves: "A crash loses no acknowledged write, and client retries with the same request_id never duplicate.",
      file: "test/faults/sigkill.test.ts",
      test: "after a restart every OK'd create is present once, with its event; retries with the same request_id add nothing",
      figures: {
        "calls in flight": IN_FLIGHT,
        "creates acknowledged before the kill": okIds.size,
        "calls cut off by the kill (UNAVAILABLE)": failed.length,
        "of those, committed but never acknowledged": committedNotAcked,
        "acknowledged creates missing after restart": missing.length,
        "restart to listening (ms)": restartMs,
        "retries with the same request_id": sent.length,
        "rows after the retries (= distinct request_ids)": after!.customers,
        "CUSTOMER_CREATED events after the retries": after!.events,
      },
    });
  });
});

// PostgreSQL backends terminated (pg_terminate_backend) under write load: for one second every
// backend of the service in the suite's database is terminated as soon as it appears, while 16
// grpc-js CreateCustomer calls are in flight. The process must not crash; failed calls are
// UNAVAILABLE or ABORTED, never INTERNAL/UNKNOWN; health goes NOT_SERVING, then SERVING within
// 5 s of the last termination; every OK'd create is in the database with its event, and retrying
// every failed request with its request_id leaves exactly one row per request.
import { randomUUID } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { completeIndividual } from "../support/fixtures.js";
import { details, unary } from "../support/grpc.js";
import { hostPortOf, startTcpProxy, withHostPort, type TcpProxy } from "../support/tcp-proxy.js";
import { startLoad } from "./support/load.js";
import { resumingWatch } from "./support/resuming-consumer.js";
import { record } from "./support/results.js";
import { codeName, query, ServiceProcess, Tally, until } from "./support/service.js";

const IN_FLIGHT = 16;

/**
 * What both cases prove afterwards: every OK'd create is in the database with exactly one
 * CUSTOMER_CREATED event; retrying every failed request with its request_id succeeds and leaves
 * exactly one row, one event and one gapless sequence number per request; and the stream
 * consumer received every committed event exactly once, in order, across its reconnects.
 */
async function expectNothingLost(
  service: ServiceProcess,
  tenant: Awaited<ReturnType<ServiceProcess["createTenant"]>>,
  ok: ReadonlyMap<string, string>,
  requests: ReadonlyArray<{ requestId: string; customer: object } | undefined>,
  failures: number,
  consumer: ReturnType<typeof resumingWatch>,
): Promise<{ missing: number; committedNotAcked: number; after: { customers: number; events: number; seqs: number; maxseq: number } }> {
  const rows = await query<{ id: string; events: number }>(
    `select c.id, (select count(*)::int from customer_events e where e.tenant_id = c.tenant_id and e.customer_id = c.id and e.type = 'CUSTOMER_CREATED') as events
       from customers c where c.tenant_id = $1`,
    [tenant.id],
  );
  const inDb = new Map(rows.map((r) => [r.id, r.events]));
  const missing = [...ok.values()].filter((id) => inDb.get(id) !== 1);
  expect(missing).toEqual([]);
  const committedNotAcked = rows.length - ok.size;

  const sent = requests.filter((r): r is { requestId: string; customer: object } => r !== undefined);
  const retry = new Tally();
  for (const r of sent.filter((r) => !ok.has(r.requestId))) {
    try {
      await unary(service.clients.customers, "createCustomer", r, tenant.md, { deadline: Date.now() + 10_000 });
      retry.add("OK");
    } catch (err) {
      retry.add(codeName(err));
    }
  }
  expect(retry.counts).toEqual(failures === 0 ? {} : { OK: failures });
  const [after] = await query<{ customers: number; events: number; seqs: number; maxseq: number }>(
    `select (select count(*)::int from customers where tenant_id = $1) as customers,
            (select count(*)::int from customer_events where tenant_id = $1 and type = 'CUSTOMER_CREATED') as events,
            (select count(distinct seq)::int from customer_events where tenant_id = $1) as seqs,
            (select coalesce(max(seq), 0)::int from customer_events where tenant_id = $1) as maxseq`,
    [tenant.id],
  );
  expect(after).toEqual({ customers: sent.length, events: sent.length, seqs: sent.length, maxseq: sent.length });

  const delivered = await until(() => consumer.events.length >= sent.length, 30_000, 50);
  await consumer.stop();
  expect(delivered, `${consumer.events.length} of ${sent.length} events delivered`).toBeDefined();
  expect(consumer.events.map((e) => e.sequence)).toEqual(sent.map((_, i) => i + 1));
  const allIds = (await query<{ id: string }>("select id from customers where tenant_id = $1", [tenant.id])).map((r) => r.id).sort();
  expect([...new Set(consumer.events.map((e) => e.customerId))].sort()).toEqual(allIds);
  return { missing: missing.length, committedNotAcked, after: after! };
}
const MAX_CALLS = 2_000;
const STORM_MS = 1_000;
const RECOVERY_LIMIT_MS = 5_000;

describe("PostgreSQL backends terminated under write load", () => {
  const service = new ServiceProcess({ env: { DATABASE_POOL_MAX: "20", CUSTOMERMS_HEALTH_INTERVAL_MS: "100" } });
  beforeAll(() => service.start());
  afterAll(() => service.dispose());

  it("no crash, failures only UNAVAILABLE/ABORTED, health NOT_SERVING then SERVING within 5 s, every OK'd write and event present", async () => {
    const tenant = await service.createTenant();
    // A consumer of the event stream through it all, reconnecting with its cursor when a stream ends.
    const consumer = resumingWatch(service.clients.customers, tenant.md);
    const serviceRole = new URL(inject("serviceDatabaseUrl")).username;
    const requests: Array<{ requestId: string; customer: object }> = [];
    const ok = new Map<string, string>();
    const tally = new Tally();
    const clients = service.clients;

    // Health, polled throughout (bounded by the load's own bounds).
    const healthLog: Array<{ at: number; status: string }> = [];
    let polling = true;
    const poller = (async () => {
      for (let i = 0; polling && i < 10_000; i++) {
        healthLog.push({ at: performance.now(), status: await service.health("") });
        await new Promise((r) => setTimeout(r, 20));
      }
    })();

    let stormStarted: Promise<void> | undefined;
    let terminated = 0;
    let stormEnd = 0;
    const admin = new pg.Client({ connectionString: service.databaseUrl });
    await admin.connect();
    const storm = async () => {
      const end = performance.now() + STORM_MS;
      for (let i = 0; performance.now() < end && i < 10_000; i++) {
        const rows = await admin.query<{ ok: boolean }>(
          "select pg_terminate_backend(pid) as ok from pg_stat_activity where datname = current_database() and usename = $1 and pid <> pg_backend_pid()",
          [serviceRole],
        );
        terminated += rows.rows.filter((r) => r.ok).length;
      }
      stormEnd = performance.now();
    };

    const load = startLoad({ inFlight: IN_FLIGHT, maxCalls: MAX_CALLS, maxMs: 40_000 }, async (i) => {
      const request = { requestId: randomUUID(), customer: completeIndividual("GB") };
      requests[i] = request;
      try {
        const res = await unary(clients.customers, "createCustomer", request, tenant.md, { deadline: Date.now() + 10_000 });
        ok.set(request.requestId, res.customer.id);
        tally.add("OK");
        if (ok.size === 150 && stormStarted === undefined) stormStarted = storm();
        // Keep writing until 400 more successes after the storm ended, then stop.
        if (stormEnd > 0 && ok.size >= 150 + 400) load.stop();
      } catch (err) {
        tally.add(codeName(err));
      }
    });
    await load.done;
    await stormStarted;
    await admin.end();
    expect(stormStarted, "the storm ran").toBeDefined();
    expect(terminated).toBeGreaterThan(0);

    // Health: NOT_SERVING seen during the storm, SERVING again within 5 s of its end.
    const servingAgain = await until(async () => (await service.health("")) === "SERVING", RECOVERY_LIMIT_MS + 2_000, 20);
    polling = false;
    await poller;
    const notServing = healthLog.filter((h) => h.status !== "SERVING");
    const lastBad = notServing.at(-1);
    const recoveryMs = lastBad === undefined ? 0 : Math.max(0, healthLog.find((h) => h.at > lastBad.at && h.status === "SERVING")!.at - stormEnd);
    expect(notServing.length, "health went NOT_SERVING during the storm").toBeGreaterThan(0);
    const outageMs = healthLog.find((h) => h.at > lastBad!.at && h.status === "SERVING")!.at - notServing[0]!.at;
    expect(notServing.every((h) => h.status === "NOT_SERVING"), JSON.stringify(notServing.slice(0, 5))).toBe(true);
    expect(servingAgain).toBeDefined();
    expect(recoveryMs).toBeLessThan(RECOVERY_LIMIT_MS);

    // No crash; failures only UNAVAILABLE or ABORTED.
    expect(service.running).toBe(true);
    const failures = tally.total - tally.get("OK");
    expect(tally.get("UNAVAILABLE") + tally.get("ABORTED"), `${JSON.stringify(tally.counts)}\n${service.child.stdout().split("\n").filter((l) => /"level":"error"/.test(l)).slice(0, 5).join("\n")}`).toBe(failures);
    expect(tally.get("INTERNAL") + tally.get("UNKNOWN")).toBe(0);
    expect(tally.get("OK")).toBe(ok.size);

    const { missing, committedNotAcked, after } = await expectNothingLost(service, tenant, ok, requests, failures, consumer);

    record({
      id: "02-postgres-terminate",
      title: "PostgreSQL backends terminated under write load",
      proves: "Losing database connections costs retryable errors only (UNAVAILABLE/ABORTED, never INTERNAL), health reports it and recovers by itself, and nothing acknowledged is lost.",
      file: "test/faults/postgres.test.ts",
      test: "no crash, failures only UNAVAILABLE/ABORTED, health NOT_SERVING then SERVING within 5 s, every OK'd write and event present",
      figures: {
        "calls in flight": IN_FLIGHT,
        "termination storm (ms)": STORM_MS,
        "backends terminated": terminated,
        "calls made": tally.total,
        OK: tally.get("OK"),
        UNAVAILABLE: tally.get("UNAVAILABLE"),
        ABORTED: tally.get("ABORTED"),
        "INTERNAL or UNKNOWN": tally.get("INTERNAL") + tally.get("UNKNOWN"),
        "health checks answered NOT_SERVING": notServing.length,
        "first NOT_SERVING → SERVING again (ms)": Math.round(outageMs),
        "storm end → health SERVING (ms, 0 = already)": Math.round(recoveryMs),
        "OK'd creates missing or without their event": missing,
        "failed calls that had committed anyway": committedNotAcked,
        "rows after retrying the failed calls (= requests)": after.customers,
        "events, gapless sequence 1..n": after.maxseq,
        "events delivered to the stream consumer (each once, in order)": consumer.events.length,
        "stream reconnects by cursor": consumer.ends.length,
      },
    });
  });
});

// The whole database unreachable (a TCP proxy in front of PostgreSQL cuts every connection
// and refuses new ones: the shared server itself cannot be stopped on this machine) until the
// load has been refused 200 times, under the same write load. Calls fail UNAVAILABLE, health is NOT_SERVING while it lasts and SERVING within
// 5 s of the restore, and nothing acknowledged is lost.
describe("PostgreSQL unreachable (all connections cut) under write load", () => {
  let proxy: TcpProxy;
  let service: ServiceProcess;
  beforeAll(async () => {
    const target = hostPortOf(inject("serviceDatabaseUrl"));
    proxy = await startTcpProxy(target.host, target.port);
    service = new ServiceProcess({
      database: { ownerUrl: inject("databaseUrl"), serviceUrl: withHostPort(inject("serviceDatabaseUrl"), proxy.port) },
      env: { DATABASE_POOL_MAX: "20", CUSTOMERMS_HEALTH_INTERVAL_MS: "100" },
    });
    await service.start();
  });
  afterAll(async () => {
    await service?.dispose();
    await proxy?.close();
  });

  it("cut under load: failures only UNAVAILABLE, health NOT_SERVING during the cut and SERVING within 5 s of the restore, nothing acknowledged lost", async () => {
    const tenant = await service.createTenant();
    const clients = service.clients;
    const consumer = resumingWatch(service.clients.customers, tenant.md);
    const requests: Array<{ requestId: string; customer: object }> = [];
    const ok = new Map<string, string>();
    const tally = new Tally();
    let cutAt = 0;
    let restoredAt = 0;
    let firstOkAfterRestore = 0;
    let servingAfter: number | undefined;
    const reasons = new Tally();
    let healthDuringCut = "";
    let cutDone: Promise<void> | undefined;
    const cut = async () => {
      proxy.cut();
      cutAt = performance.now();
      const down = await until(async () => (await service.health("")) === "NOT_SERVING", 2_000, 20);
      healthDuringCut = down === undefined ? "still SERVING" : "NOT_SERVING";
      // Keep it cut until the load has been refused 200 times (at most 5 s).
      await until(() => tally.get("UNAVAILABLE") >= 200, 5_000, 20);
      proxy.restore();
      restoredAt = performance.now();
      // Health, polled from the restore on (the load keeps running meanwhile).
      servingAfter = await until(async () => (await service.health("")) === "SERVING", RECOVERY_LIMIT_MS, 20);
    };
    const load = startLoad({ inFlight: IN_FLIGHT, maxCalls: MAX_CALLS, maxMs: 40_000 }, async (i) => {
      const request = { requestId: randomUUID(), customer: completeIndividual("GB") };
      requests[i] = request;
      try {
        const res = await unary(clients.customers, "createCustomer", request, tenant.md, { deadline: Date.now() + 5_000 });
        ok.set(request.requestId, res.customer.id);
        tally.add("OK");
        if (restoredAt > 0 && firstOkAfterRestore === 0) firstOkAfterRestore = performance.now();
        if (ok.size === 100 && cutDone === undefined) cutDone = cut();
        if (restoredAt > 0 && ok.size >= 400) load.stop();
      } catch (err) {
        tally.add(codeName(err));
        reasons.add(`${codeName(err)}/${details(err as never).errorInfo?.reason ?? ""}/${restoredAt > 0 ? "after" : "during"}`);
      }
    });
    await load.done;
    await cutDone;
    expect(healthDuringCut).toBe("NOT_SERVING");
    expect(servingAfter, "SERVING within 5 s of the restore").toBeDefined();
    const recoveryMs = servingAfter!;
    expect(reasons.counts).toEqual(Object.fromEntries(Object.keys(reasons.counts).filter((k) => k.startsWith("UNAVAILABLE/DATABASE_UNAVAILABLE/")).map((k) => [k, reasons.get(k)])));
    expect(service.running).toBe(true);
    const failures = tally.total - tally.get("OK");
    expect(tally.get("UNAVAILABLE"), JSON.stringify(tally.counts)).toBe(failures);
    expect(failures).toBeGreaterThan(0);

    const { missing, after } = await expectNothingLost(service, tenant, ok, requests, failures, consumer);

    record({
      id: "02b-postgres-unreachable",
      title: "PostgreSQL unreachable (every connection cut) under write load",
      proves: "A full database outage costs only UNAVAILABLE answers while it lasts; health follows it both ways without a restart, and nothing acknowledged is lost.",
      file: "test/faults/postgres.test.ts",
      test: "cut under load: failures only UNAVAILABLE, health NOT_SERVING during the cut and SERVING within 5 s of the restore, nothing acknowledged lost",
      figures: {
        "calls in flight": IN_FLIGHT,
        "calls made": tally.total,
        OK: tally.get("OK"),
        UNAVAILABLE: tally.get("UNAVAILABLE"),
        "other errors": failures - tally.get("UNAVAILABLE"),
        "cut duration (ms, until 200 calls were refused)": Math.round(restoredAt - cutAt),
        "health during the cut": healthDuringCut,
        "restore → health SERVING (ms)": Math.round(recoveryMs),
        "restore → first OK create (ms)": Math.round(firstOkAfterRestore - restoredAt),
        "failed after the restore (calls already waiting)": Object.entries(reasons.counts).filter(([k]) => k.endsWith("/after")).reduce((a, [, v]) => a + v, 0),
        "OK'd creates missing or without their event": missing,
        "rows after retrying the failed calls (= requests)": after.customers,
        "events delivered to the stream consumer (each once, in order)": consumer.events.length,
        "stream reconnects by cursor": consumer.ends.length,
      },
    });
  });
});

// Crash consistency of the event log (acceptance: "The process is killed (SIGKILL) right after
// commits under load: after restart, consumers still receive every committed change"). The
// service runs as a real process (the `start` command line) on the run's database; it is
// killed with SIGKILL from the callback of an acknowledged CreateCustomer while 15 others are in
// flight, then started again. Every acknowledged customer must exist with exactly one
// CUSTOMER_CREATED event that a consumer from the beginning receives; retrying the calls that
// failed in the crash with their own request_id must not duplicate anything.
import { randomBytes, randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, inject, it } from "vitest";
import { bearer, sql, TEST_MASTER_KEY } from "../support/app.js";
import { watch, type Consumer } from "../support/event-consumer.js";
import { grpc, grpcClients, metadata, unary } from "../support/grpc.js";
import { cleanEnv, spawnService, startCommand, stop, waitListening, type Child } from "../support/process.js";

const databaseUrl = inject("databaseUrl");
const adminToken = `crash-admin-${randomBytes(14).toString("hex")}`; // 40 characters
const IN_FLIGHT = 16;
/** Kill after this many acknowledged creates. */
const KILL_AFTER = 300;
/** Upper bound on the calls made before the kill (in case the kill never triggers). */
const MAX_CALLS = 5_000;

let dataDir: string;
const children: Child[] = [];

function serviceEnv(): NodeJS.ProcessEnv {
  return cleanEnv({
    PORT: "0",
    DATABASE_URL: databaseUrl,
    DATABASE_POOL_MAX: "20",
    CUSTOMERMS_ADMIN_TOKEN: adminToken,
    CUSTOMERMS_MASTER_KEY: TEST_MASTER_KEY,
    CUSTOMERMS_SECRET: randomBytes(24).toString("hex"),
    CUSTOMERMS_DATA_DIR: dataDir,
    CUSTOMERMS_MIGRATE_ON_START: "false",
    CUSTOMERMS_STREAM_HEARTBEAT_MS: "300",
    // "info": waitListening reads the "customerms listening" line (per-call lines go to a pipe).
    LOG_LEVEL: "info",
  });
}

async function startService(): Promise<{ child: Child; port: number }> {
  const [command, ...args] = startCommand();
  const child = spawnService(command!, args, serviceEnv());
  children.push(child);
  return { child, port: await waitListening(child) };
}

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), "cms-crash-data-"));
});

afterAll(async () => {
  for (const child of children) {
    if (child.proc.exitCode === null && child.proc.signalCode === null) await stop(child);
  }
  await rm(dataDir, { recursive: true, force: true });
});

interface Attempt {
  readonly requestId: string;
  readonly email: string;
  readonly request: object;
}

function createRequest(): Attempt {
  const email = `crash.${randomUUID()}@example.com`;
  const requestId = randomUUID();
  return { requestId, email, request: { customer: { individual: { givenName: "Crash", familyName: "Test" }, email, countryCode: "GB" }, requestId } };
}

async function createdEvents(tenantId: string): Promise<Map<string, number>> {
  const rows = await sql<{ customer_id: string; n: number }>(
    databaseUrl,
    "select customer_id, count(*)::int as n from customer_events where tenant_id = $1 and type = 'CUSTOMER_CREATED' group by customer_id",
    [tenantId],
  );
  return new Map(rows.map((r) => [r.customer_id, r.n]));
}

async function seqs(tenantId: string): Promise<number[]> {
  const rows = await sql<{ seq: string }>(databaseUrl, "select seq from customer_events where tenant_id = $1 order by seq", [tenantId]);
  return rows.map((r) => Number(r.seq));
}

const oneToN = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

it("SIGKILL right after commits under load: after restart every acknowledged change is stored once and streamed; retries with the same request_id duplicate nothing", { timeout: 120_000 }, async () => {
  // --- First process: a tenant, then 16 writers in flight until the kill.
  const first = await startService();
  const c1 = grpcClients(first.port);
  const created = await unary(c1.tenants, "createTenant", { tenant: { displayName: `crash ${randomUUID()}` } }, metadata(bearer(adminToken)));
  const tenantId: string = created.tenant.id;
  const md = metadata(bearer(created.apiKey));

  const acknowledged: Array<Attempt & { id: string }> = [];
  const failed: Array<Attempt & { code: number }> = [];
  let calls = 0;
  let killedAt: { acknowledged: number; inFlight: number } | undefined;
  let inFlight = 0;
  const writer = async () => {
    while (killedAt === undefined && calls < MAX_CALLS) {
      calls++;
      const attempt = createRequest();
      inFlight++;
      try {
        const res = await unary(c1.customers, "createCustomer", attempt.request, md, { deadline: Date.now() + 20_000 });
        acknowledged.push({ ...attempt, id: res.customer.id });
        if (acknowledged.length === KILL_AFTER && killedAt === undefined) {
          // Right after a commit was acknowledged, with the other writers' calls in flight.
          killedAt = { acknowledged: acknowledged.length, inFlight: inFlight - 1 };
          process.kill(first.child.proc.pid!, "SIGKILL");
        }
      } catch (err) {
        failed.push({ ...attempt, code: (err as grpc.ServiceError).code });
      } finally {
        inFlight--;
      }
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, writer));
  c1.close();
  expect(killedAt, `never reached ${KILL_AFTER} acknowledged creates in ${MAX_CALLS} calls`).toBeDefined();
  expect(await first.child.exited).toBe("SIGKILL");
  expect(killedAt!.inFlight).toBeGreaterThan(0);
  expect(failed.length).toBeGreaterThan(0);
  for (const f of failed) expect([grpc.status.UNAVAILABLE, grpc.status.CANCELLED, grpc.status.INTERNAL]).toContain(f.code);

  // --- Second process on the same database.
  const second = await startService();
  const c2 = grpcClients(second.port);
  let consumer: Consumer | undefined;
  try {
    // Every acknowledged customer exists, with exactly one CUSTOMER_CREATED event.
    const ackIds = acknowledged.map((a) => a.id);
    const existing = await sql<{ id: string }>(databaseUrl, "select id from customers where tenant_id = $1 and id = any($2::uuid[])", [tenantId, ackIds]);
    expect(existing.map((r) => r.id).sort()).toEqual([...ackIds].sort());
    const events = await createdEvents(tenantId);
    for (const id of ackIds) expect(events.get(id), `CUSTOMER_CREATED events of ${id}`).toBe(1);
    // Calls that were committed but never answered are there too, each also with one event;
    // nothing else is.
    const [{ n: customers }] = (await sql<{ n: number }>(databaseUrl, "select count(*)::int as n from customers where tenant_id = $1", [tenantId])) as [
      { n: number },
    ];
    expect(customers).toBeGreaterThanOrEqual(acknowledged.length);
    expect(customers).toBeLessThanOrEqual(acknowledged.length + failed.length);
    expect(events.size).toBe(customers);
    expect([...events.values()].every((n) => n === 1)).toBe(true);
    const before = await seqs(tenantId);
    expect(before).toEqual(oneToN(customers)); // no gaps, nothing numbered twice

    // A consumer from the beginning on the restarted process receives all of them, once.
    consumer = watch(c2.customers, md);
    await consumer.until((k) => k.events.length >= customers, 30_000, `${customers} events`);
    await consumer.until((k) => k.heartbeats.some((h) => h.afterEvents >= customers), 10_000, "a heartbeat after the replay");
    expect(consumer.events.map((e) => e.sequence)).toEqual(oneToN(customers));
    expect(consumer.events.every((e) => e.type === "EVENT_TYPE_CUSTOMER_CREATED")).toBe(true);
    const streamed = new Set(consumer.events.map((e) => e.customerId));
    expect(ackIds.filter((id) => !streamed.has(id))).toEqual([]);

    // --- Retry every call that failed in the crash with its own request_id: each succeeds once.
    const alreadyCommitted = new Set(
      (await sql<{ email: string }>(databaseUrl, "select email from customers where tenant_id = $1 and email = any($2::text[])", [
        tenantId,
        failed.map((f) => f.email),
      ])).map((r) => r.email),
    );
    const retried = await Promise.all(failed.map((f) => unary(c2.customers, "createCustomer", f.request, md, { deadline: Date.now() + 20_000 })));
    for (const [i, res] of retried.entries()) expect(res.customer.email).toBe(failed[i]!.email);
    const perEmail = await sql<{ email: string; n: number }>(
      databaseUrl,
      "select email, count(*)::int as n from customers where tenant_id = $1 group by email",
      [tenantId],
    );
    expect(perEmail.filter((r) => r.n !== 1)).toEqual([]);
    const emails = new Map(perEmail.map((r) => [r.email, r.n]));
    for (const a of [...acknowledged, ...failed]) expect(emails.get(a.email), a.email).toBe(1);
    expect(perEmail).toHaveLength(acknowledged.length + failed.length);
    // A retry of a call that had been committed answers with the customer it made.
    const ids = new Map((await sql<{ id: string; email: string }>(databaseUrl, "select id, email from customers where tenant_id = $1", [tenantId])).map((r) => [r.email, r.id]));
    for (const [i, res] of retried.entries()) expect(res.customer.id).toBe(ids.get(failed[i]!.email));

    // Still one CUSTOMER_CREATED per customer, numbered without gaps, and streamed live.
    const total = acknowledged.length + failed.length;
    const after = await createdEvents(tenantId);
    expect(after.size).toBe(total);
    expect([...after.values()].every((n) => n === 1)).toBe(true);
    expect(await seqs(tenantId)).toEqual(oneToN(total));
    await consumer.until((k) => k.events.length >= total, 30_000, `${total} events`);
    await consumer.until((k) => k.heartbeats.some((h) => h.afterEvents >= total), 10_000, "a heartbeat after the retries");
    expect(consumer.events.map((e) => e.sequence)).toEqual(oneToN(total));
    expect(new Set(consumer.events.map((e) => e.customerId))).toEqual(new Set(ids.values()));
    console.log(
      `[event-crash] killed after ${killedAt!.acknowledged} acknowledged creates with ${killedAt!.inFlight} in flight; ` +
        `${failed.length} failed (${alreadyCommitted.size} of them committed before the kill), all retried once`,
    );
    consumer.cancel();
    c2.close();
    expect(await stop(second.child)).toBe(0); // and it still shuts down cleanly
  } finally {
    consumer?.cancel();
    c2.close();
  }
});

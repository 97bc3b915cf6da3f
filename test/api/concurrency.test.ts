// Concurrency acceptance against real PostgreSQL through the grpc-js client: idempotent creates
// under a burst of duplicates, optimistic locking with etags, unique contacts under racing
// creates, and keyset paging that stays stable while customers are being inserted.
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bearer, createTenant, sql, startServer, whileChangeCommits, type TestServer, type TestTenant } from "../support/app.js";
import { details, grpc, grpcClients, metadata, unary, unaryError, type GrpcClient } from "../support/grpc.js";

const DOMAIN = "customerms.finhub";

let server: TestServer;
let c: ReturnType<typeof grpcClients>;
/** Extra CustomerService clients, each on its own channel and connection. */
let channels: GrpcClient[] = [];

beforeAll(async () => {
  server = await startServer();
  c = grpcClients(server.port);
  const Client = c.customers.constructor as new (address: string, creds: grpc.ChannelCredentials, options: object) => GrpcClient;
  channels = Array.from(
    { length: 3 },
    () => new Client(`127.0.0.1:${server.port}`, grpc.credentials.createInsecure(), { "grpc.use_local_subchannel_pool": 1 }),
  );
});
afterAll(async () => {
  for (const ch of channels) ch.close();
  c?.close();
  await server?.close();
});

const md = (t: TestTenant) => metadata(bearer(t.apiKey));

function customerBody(email = `lise.${randomUUID()}@example.com`) {
  return { individual: { givenName: "Lise", familyName: "Meitner" }, email, countryCode: "AT" };
}

async function count(table: "customers" | "customer_events" | "idempotency_records", tenant: TestTenant): Promise<number> {
  const rows = await sql<{ n: number }>(server.databaseUrl, `select count(*)::int as n from ${table} where tenant_id = $1`, [tenant.id]);
  return rows[0]!.n;
}

function reasonOf(err: grpc.ServiceError) {
  const info = details(err).errorInfo;
  return { code: err.code, reason: info?.reason, domain: info?.domain };
}

function split<T>(results: PromiseSettledResult<T>[]) {
  return {
    ok: results.flatMap((r) => (r.status === "fulfilled" ? [r.value] : [])),
    failed: results.flatMap((r) => (r.status === "rejected" ? [r.reason as grpc.ServiceError] : [])),
  };
}

/** Runs fn(0..n-1) with at most `limit` calls in flight; results in index order. */
async function inPool<T>(n: number, limit: number, fn: (i: number) => Promise<T>): Promise<T[]> {
  const out = new Array<T>(n);
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const i = next++;
      out[i] = await fn(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, n) }, worker));
  return out;
}

/** A google.protobuf.Timestamp from proto-loader (longs as strings) in nanoseconds. */
function nanos(ts: { seconds: string; nanos: number }): bigint {
  return BigInt(ts.seconds) * 1_000_000_000n + BigInt(ts.nanos);
}

describe("CreateCustomer: a burst of duplicates with one request_id", () => {
  const scenarios = [
    { name: "one client", clients: () => [c.customers] },
    { name: "spread across 3 channels", clients: () => channels },
  ];
  for (const scenario of scenarios) {
    it(
      `50 concurrent calls (${scenario.name}) → exactly 1 row, each reply that customer or ABORTED; a replay is identical (3 rounds)`,
      { timeout: 120_000 },
      async () => {
        const tenant = await createTenant(server);
        const clients = scenario.clients();
        const ids = new Set<string>();
        for (let round = 0; round < 3; round++) {
          const request = { customer: customerBody(), requestId: randomUUID() };
          const results = await Promise.allSettled(
            Array.from({ length: 50 }, (_, i) => unary(clients[i % clients.length]!, "createCustomer", request, md(tenant))),
          );
          const { ok, failed } = split(results);
          expect(ok.length).toBeGreaterThanOrEqual(1);
          const first = ok[0];
          expect(first.customer.id).toMatch(/^[0-9a-f-]{36}$/);
          expect(first.customer.email).toBe(request.customer.email);
          for (const r of ok) {
            expect(r.customer.id).toBe(first.customer.id);
            expect(r).toEqual(first);
          }
          for (const e of failed) {
            expect(reasonOf(e)).toEqual({ code: grpc.status.ABORTED, reason: "REQUEST_IN_PROGRESS", domain: DOMAIN });
          }
          ids.add(first.customer.id);
          expect(await count("customers", tenant)).toBe(round + 1);
          expect(await count("customer_events", tenant)).toBe(round + 1);
          expect(await count("idempotency_records", tenant)).toBe(round + 1);
          // After completion, a replay (on another channel too) returns the identical response.
          expect(await unary(c.customers, "createCustomer", request, md(tenant))).toEqual(first);
          expect(await unary(channels[round % channels.length]!, "createCustomer", request, md(tenant))).toEqual(first);
          expect(await count("customers", tenant)).toBe(round + 1);
        }
        expect(ids.size).toBe(3);
      },
    );
  }
});

describe("UpdateCustomer: optimistic locking with etags", () => {
  it("two concurrent updates with the same etag → exactly one succeeds, the other ABORTED; the winner's value is stored (10 rounds)", { timeout: 120_000 }, async () => {
    const tenant = await createTenant(server);
    const body = customerBody();
    const created = (await unary(c.customers, "createCustomer", { customer: body }, md(tenant))).customer;
    let etag: string = created.etag;
    const outcomes = new Set<string>();
    for (let round = 0; round < 10; round++) {
      const byEmail = round % 2 === 0;
      const values = [0, 1].map((k) => (byEmail ? `round${round}.${k}.${randomUUID()}@example.com` : `Meitner-${round}-${k}`));
      // The full customer is sent (the merged result must be valid); the mask names the one field.
      const request = (v: string) => ({
        customer: byEmail
          ? { ...body, id: created.id, etag, email: v }
          : { ...body, id: created.id, etag, individual: { ...body.individual, familyName: v } },
        updateMask: { paths: [byEmail ? "email" : "individual.family_name"] },
      });
      const results = await Promise.allSettled([
        unary(c.customers, "updateCustomer", request(values[0]!), md(tenant)),
        unary(channels[round % channels.length]!, "updateCustomer", request(values[1]!), md(tenant)),
      ]);
      const { ok, failed } = split(results);
      expect(ok).toHaveLength(1);
      expect(failed).toHaveLength(1);
      const err = reasonOf(failed[0]!);
      expect(err.code).toBe(grpc.status.ABORTED);
      expect(["ETAG_MISMATCH", "CONCURRENT_MODIFICATION"]).toContain(err.reason);
      outcomes.add(err.reason!);
      const winner = ok[0].customer;
      const winnerValue = values[results.findIndex((r) => r.status === "fulfilled")]!;
      expect(byEmail ? winner.email : winner.individual.familyName).toBe(winnerValue);
      expect(Number(winner.etag)).toBe(Number(etag) + 1);
      const stored = (await unary(c.customers, "getCustomer", { id: created.id }, md(tenant))).customer;
      expect(byEmail ? stored.email : stored.individual.familyName).toBe(winnerValue);
      expect(stored.etag).toBe(winner.etag);
      etag = stored.etag;
    }
    // One update event per round, never two.
    const events = await sql<{ n: number }>(
      server.databaseUrl,
      "select count(*)::int as n from customer_events where tenant_id = $1 and type = 'CUSTOMER_UPDATED'",
      [tenant.id],
    );
    expect(events[0]!.n).toBe(10);
    console.log(`[concurrency] losing update reasons seen: ${[...outcomes].join(", ")}`);
  });

  it("a change committed after the update read the customer: ABORTED CONCURRENT_MODIFICATION, nothing written, the request_id free again", async () => {
    const tenant = await createTenant(server);
    const created = (await unary(c.customers, "createCustomer", { customer: customerBody() }, md(tenant))).customer;
    const requestId = randomUUID();
    const update = () =>
      unary(c.customers, "updateCustomer", { customer: { id: created.id, metadata: { mine: "yes" } }, updateMask: { paths: ["metadata"] }, requestId }, md(tenant));
    const { err } = await whileChangeCommits(
      server,
      { text: `update customers set metadata = '{"theirs":"yes"}'::jsonb, version = version + 1 where id = $1`, values: [created.id] },
      update,
    );
    expect(reasonOf(err as grpc.ServiceError)).toEqual({ code: grpc.status.ABORTED, reason: "CONCURRENT_MODIFICATION", domain: DOMAIN });
    expect((await unary(c.customers, "getCustomer", { id: created.id }, md(tenant))).customer).toMatchObject({ metadata: { theirs: "yes" }, etag: "2" });
    expect(await count("customer_events", tenant)).toBe(1); // CUSTOMER_CREATED only
    expect(await count("idempotency_records", tenant)).toBe(0);
    // The claim was rolled back with the rest: the same request_id now applies the update.
    expect((await update()).customer).toMatchObject({ metadata: { mine: "yes" }, etag: "3" });
    expect(await count("customer_events", tenant)).toBe(2);
  });

  it("a stale etag is ABORTED, ETAG_MISMATCH, and writes nothing", async () => {
    const tenant = await createTenant(server);
    const body = customerBody();
    const created = (await unary(c.customers, "createCustomer", { customer: body }, md(tenant))).customer;
    const email = `fresh.${randomUUID()}@example.com`;
    await unary(c.customers, "updateCustomer", { customer: { ...body, id: created.id, etag: created.etag, email }, updateMask: { paths: ["email"] } }, md(tenant));
    const err = await unaryError(
      c.customers,
      "updateCustomer",
      { customer: { ...body, id: created.id, etag: created.etag, email: `stale.${randomUUID()}@example.com` }, updateMask: { paths: ["email"] } },
      md(tenant),
    );
    expect(reasonOf(err)).toEqual({ code: grpc.status.ABORTED, reason: "ETAG_MISMATCH", domain: DOMAIN });
    expect((await unary(c.customers, "getCustomer", { id: created.id }, md(tenant))).customer.email).toBe(email);
  });
});

describe("CreateCustomer: unique email per tenant", () => {
  it("two concurrent creates with the same email → one OK, the other ALREADY_EXISTS naming the winner (5 rounds)", { timeout: 120_000 }, async () => {
    const tenant = await createTenant(server);
    for (let round = 0; round < 5; round++) {
      const email = `race.${round}.${randomUUID()}@example.com`;
      const results = await Promise.allSettled([
        unary(c.customers, "createCustomer", { customer: customerBody(email), requestId: randomUUID() }, md(tenant)),
        unary(channels[round % channels.length]!, "createCustomer", { customer: customerBody(email.toUpperCase()), requestId: randomUUID() }, md(tenant)),
      ]);
      const { ok, failed } = split(results);
      expect(ok).toHaveLength(1);
      expect(failed).toHaveLength(1);
      expect(reasonOf(failed[0]!)).toEqual({ code: grpc.status.ALREADY_EXISTS, reason: "EMAIL_ALREADY_EXISTS", domain: DOMAIN });
      expect(details(failed[0]!).errorInfo?.metadata.customer_id).toBe(ok[0].customer.id);
      const rows = await sql<{ id: string }>(server.databaseUrl, "select id from customers where tenant_id = $1 and email = $2", [
        tenant.id,
        email,
      ]);
      expect(rows.map((r) => r.id)).toEqual([ok[0].customer.id]);
    }
    expect(await count("customers", tenant)).toBe(5);
  });

  it("a duplicate email in one tenant is ALREADY_EXISTS with the existing id; another tenant may use it; closing frees it", async () => {
    const a = await createTenant(server);
    const b = await createTenant(server);
    const email = `shared.${randomUUID()}@example.com`;
    const first = (await unary(c.customers, "createCustomer", { customer: customerBody(email) }, md(a))).customer;

    for (const dup of [email, email.toUpperCase(), email.replace(/^shared/, "Shared")]) {
      const err = await unaryError(c.customers, "createCustomer", { customer: customerBody(dup) }, md(a));
      expect(reasonOf(err)).toEqual({ code: grpc.status.ALREADY_EXISTS, reason: "EMAIL_ALREADY_EXISTS", domain: DOMAIN });
      expect(details(err).errorInfo?.metadata).toMatchObject({ customer_id: first.id, field: "email" });
    }
    expect(await count("customers", a)).toBe(1);

    const inB = (await unary(c.customers, "createCustomer", { customer: customerBody(email) }, md(b))).customer;
    expect(inB.id).not.toBe(first.id);
    expect(inB.email).toBe(email);
    expect(await count("customers", b)).toBe(1);

    // A closed customer frees its email for a new customer of the same tenant.
    await unary(c.customers, "closeCustomer", { id: first.id, reason: "STATUS_REASON_DUPLICATE" }, md(a));
    const again = (await unary(c.customers, "createCustomer", { customer: customerBody(email) }, md(a))).customer;
    expect(again.id).not.toBe(first.id);
    expect(await count("customers", a)).toBe(2);
  });
});

describe("ListCustomers: keyset paging under concurrent inserts", () => {
  it(
    "1 000 customers listed with page_size 7 while 100 more are inserted concurrently: no duplicates, no gaps among the first 1 000",
    { timeout: 180_000 },
    async () => {
      const tenant = await createTenant(server);
      const run = randomUUID().slice(0, 8);
      const create = (tag: string, i: number) =>
        unary(c.customers, "createCustomer", { customer: customerBody(`${tag}.${i}.${run}@example.com`) }, md(tenant)).then(
          (r) => r.customer.id as string,
        );

      const t0 = Date.now();
      const initial = await inPool(1000, 16, (i) => create("base", i));
      const seeded = Date.now() - t0;
      expect(new Set(initial).size).toBe(1000);
      expect(await count("customers", tenant)).toBe(1000);

      const t1 = Date.now();
      const walked: Array<{ id: string; createTime: { seconds: string; nanos: number } }> = [];
      const concurrent: Array<Promise<string>> = [];
      let pageToken = "";
      let pages = 0;
      let committedMidWalk = 0;
      do {
        const page = await unary(c.customers, "listCustomers", { pageSize: 7, pageToken }, md(tenant));
        pages++;
        expect(page.customers.length).toBeLessThanOrEqual(7);
        if (page.nextPageToken !== "") expect(page.customers).toHaveLength(7);
        walked.push(...page.customers.map((x: { id: string; createTime: { seconds: string; nanos: number } }) => ({ id: x.id, createTime: x.createTime })));
        pageToken = page.nextPageToken;
        // After the first page, start one insert per page until 100 are under way; halfway,
        // wait for those started so far, so that committed inserts land between two pages.
        if (concurrent.length < 100) concurrent.push(create("late", concurrent.length));
        if (concurrent.length === 50 && committedMidWalk === 0) {
          await Promise.all(concurrent);
          committedMidWalk = (await count("customers", tenant)) - 1000;
        }
        expect(pages).toBeLessThanOrEqual(200); // bound: 1 100 / 7 < 158
      } while (pageToken !== "");
      const late = await Promise.all(concurrent);
      const walkMs = Date.now() - t1;

      expect(committedMidWalk).toBeGreaterThanOrEqual(50);
      expect(late).toHaveLength(100);
      expect(await count("customers", tenant)).toBe(1100);

      const ids = walked.map((w) => w.id);
      // No id twice.
      expect(new Set(ids).size).toBe(ids.length);
      // Every one of the first 1 000, exactly once.
      const seen = new Map<string, number>();
      for (const id of ids) seen.set(id, (seen.get(id) ?? 0) + 1);
      const missing = initial.filter((id) => seen.get(id) !== 1);
      expect(missing).toEqual([]);
      // Anything else walked is one of the concurrent inserts.
      const known = new Set([...initial, ...late]);
      expect(ids.filter((id) => !known.has(id))).toEqual([]);
      // Newest first: create_time never increases along the walk (ties broken by id, descending).
      for (let i = 1; i < walked.length; i++) {
        const prev = nanos(walked[i - 1]!.createTime);
        const cur = nanos(walked[i]!.createTime);
        expect(cur <= prev).toBe(true);
        if (cur === prev) expect(walked[i]!.id < walked[i - 1]!.id).toBe(true);
      }
      console.log(`[concurrency] seeded 1000 in ${seeded} ms; walked ${pages} pages (${ids.length} ids) in ${walkMs} ms`);
    },
  );
});

// CustomerService.WatchCustomerEvents end to end (acceptance: "Two consumers on one tenant, 2 000
// changes from 8 concurrent writers: each consumer receives all 2 000, none twice, per-customer
// order preserved; a consumer killed mid-way and resumed from its last cursor ends with the same
// set"), plus tenant isolation, the types filter, heartbeats, bad cursors, authentication, the
// end of streams at shutdown, and streams outliving the unary deadline ceiling. Consumers are
// grpc-js clients built from proto/ (test/support/event-consumer.ts); every wait is bounded and
// woken by the stream's own messages.
import { randomBytes, randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from "vitest";
import { bearer, createTenant, sql, startServer, TEST_MASTER_KEY, type TestServer, type TestTenant } from "../support/app.js";
import { watch, type Consumer, type WatchOptions } from "../support/event-consumer.js";
import { details, grpc, grpcClients, metadata, unary } from "../support/grpc.js";
import { cleanEnv, spawnService, startCommand, stop, waitListening, type Child } from "../support/process.js";

const DOMAIN = "customerms.finhub";
const HEARTBEAT_MS = 300;

let server: TestServer;
let c: ReturnType<typeof grpcClients>;

beforeAll(async () => {
  server = await startServer({ CUSTOMERMS_STREAM_HEARTBEAT_MS: String(HEARTBEAT_MS) });
  c = grpcClients(server.port);
});

afterAll(async () => {
  c?.close();
  await server?.close();
});

/** Every consumer a test opened; cancelled after each test. */
const open: Consumer[] = [];
afterEach(() => {
  for (const x of open.splice(0)) if (x.end === undefined) x.cancel();
});

// ---------------------------------------------------------------------------------------------
// Helpers

interface Ctx {
  tenant: TestTenant;
  md: grpc.Metadata;
  call(method: string, request: object): Promise<any>;
  watch(options?: WatchOptions): Consumer;
}

/** Where a test's tenant lives: the in-process server (default), another one, or a process. */
interface Target {
  readonly clients: ReturnType<typeof grpcClients>;
  newTenant(): Promise<TestTenant>;
}

const onServer = (srv: TestServer, clients: ReturnType<typeof grpcClients>): Target => ({ clients, newTenant: () => createTenant(srv) });

async function tenantCtx(on: Target = onServer(server, c)): Promise<Ctx> {
  const tenant = await on.newTenant();
  const md = metadata(bearer(tenant.apiKey));
  return {
    tenant,
    md,
    call: (method, request) => unary(on.clients.customers, method, request, md),
    watch(options) {
      const consumer = watch(on.clients.customers, md, options);
      open.push(consumer);
      return consumer;
    },
  };
}

function simpleCustomer(tag: string) {
  return { individual: { givenName: "Stream", familyName: "Tester" }, email: `${tag}.${randomUUID()}@example.com`, countryCode: "GB" };
}

interface StoredEvent {
  sequence: number;
  customerId: string;
  type: string;
  requestId: string;
}

async function storedEvents(tenantId: string): Promise<StoredEvent[]> {
  const rows = await sql<{ seq: string; customer_id: string; type: string; request_id: string | null }>(
    inject("databaseUrl"),
    "select seq, customer_id, type, request_id from customer_events where tenant_id = $1 order by seq",
    [tenantId],
  );
  return rows.map((r) => ({ sequence: Number(r.seq), customerId: r.customer_id, type: `EVENT_TYPE_${r.type}`, requestId: r.request_id ?? "" }));
}

const asStored = (x: Consumer): StoredEvent[] =>
  x.events.map((e) => ({ sequence: e.sequence, customerId: e.customerId, type: e.type, requestId: e.requestId }));

const oneToN = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

/** Waits until the stream has looked at everything up to `cursor`: a heartbeat after the last
 * event received carries it. Nothing more can be on its way then. */
function settled(x: Consumer, cursor: string, timeoutMs = 10_000): Promise<void> {
  const seen = x.events.length;
  return x.until((k) => k.heartbeats.some((h) => h.afterEvents >= seen && h.cursor === cursor), timeoutMs, `a heartbeat at ${cursor}`);
}

function expectStreamError(x: Consumer, code: number, reason: string): void {
  expect(x.end, "the stream has not ended").toBeDefined();
  const info = x.end!.error ? details(x.end!.error).errorInfo : undefined;
  expect({ code: x.end!.code, reason: info?.reason, domain: info?.domain }).toEqual({ code, reason, domain: DOMAIN });
}

/** Resolves with `p`, or rejects after timeoutMs. */
async function within<T>(p: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: not within ${timeoutMs} ms`)), timeoutMs))),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

interface WriterLog {
  ok: number;
  errors: grpc.ServiceError[];
  /** customer id -> the request_ids of its successful writes, in the order they were made. */
  order: Map<string, string[]>;
  created: string[];
}

/**
 * One writer: `n` calls, one after the other, on its own customers: a CreateCustomer first and
 * every fourth call, UpdateCustomer (metadata) otherwise. Each call has its own request_id, which
 * the event carries: it identifies each write in the stream.
 */
async function writer(t: Ctx, w: number, n: number, log: WriterLog): Promise<void> {
  const mine: string[] = [];
  for (let i = 0; i < n; i++) {
    const requestId = randomUUID();
    try {
      if (mine.length === 0 || i % 4 === 0) {
        const res = await t.call("createCustomer", { customer: simpleCustomer(`w${w}`), requestId });
        mine.push(res.customer.id);
        log.created.push(res.customer.id);
        log.order.set(res.customer.id, [requestId]);
      } else {
        const id = mine[i % mine.length]!;
        await t.call("updateCustomer", { customer: { id, metadata: { writer: String(w), write: String(i) } }, updateMask: { paths: ["metadata"] }, requestId });
        log.order.get(id)!.push(requestId);
      }
      log.ok++;
    } catch (err) {
      log.errors.push(err as grpc.ServiceError);
    }
  }
}

async function runWriters(t: Ctx, writers: number, total: number): Promise<WriterLog> {
  const log: WriterLog = { ok: 0, errors: [], order: new Map(), created: [] };
  const each = total / writers;
  await Promise.all(Array.from({ length: writers }, (_, w) => writer(t, w, each, log)));
  return log;
}

function expectPerCustomerOrder(x: Consumer, order: Map<string, string[]>): void {
  const got = new Map<string, string[]>();
  for (const e of x.events) {
    let list = got.get(e.customerId);
    if (!list) got.set(e.customerId, (list = []));
    list.push(e.requestId);
  }
  expect(got.size).toBe(order.size);
  for (const [id, requestIds] of order) expect(got.get(id), `order of customer ${id}`).toEqual(requestIds);
}

// ---------------------------------------------------------------------------------------------

describe("delivery under load", () => {
  // The service runs as its own process here (the `start` command line, as deployed): the
  // writers and consumers of this test process then do not compete with it for one event loop.
  let child: Child | undefined;
  let target: Target;
  let dataDir: string;
  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), "cms-stream-data-"));
    const adminToken = `stream-admin-${randomBytes(14).toString("hex")}`;
    const [command, ...args] = startCommand();
    child = spawnService(
      command!,
      args,
      cleanEnv({
        PORT: "0",
        DATABASE_URL: inject("databaseUrl"),
        DATABASE_POOL_MAX: "16", // 8 writers and 3 streams at once
        CUSTOMERMS_ADMIN_TOKEN: adminToken,
        CUSTOMERMS_MASTER_KEY: TEST_MASTER_KEY,
        CUSTOMERMS_SECRET: randomBytes(24).toString("hex"),
        CUSTOMERMS_DATA_DIR: dataDir,
        CUSTOMERMS_MIGRATE_ON_START: "false",
        CUSTOMERMS_STREAM_HEARTBEAT_MS: String(HEARTBEAT_MS),
        // The default unary ceiling (30 s) stays: the consumers here outlive it.
        LOG_LEVEL: "info", // waitListening reads the "customerms listening" line
      }),
    );
    const clients = grpcClients(await waitListening(child));
    target = {
      clients,
      async newTenant() {
        const res = await unary(clients.tenants, "createTenant", { tenant: { displayName: `stream ${randomUUID()}` } }, metadata(bearer(adminToken)));
        return { id: res.tenant.id, apiKey: res.apiKey, apiKeyId: res.key.id };
      },
    };
  });
  afterAll(async () => {
    for (const x of open.splice(0)) if (x.end === undefined) x.cancel();
    target?.clients.close();
    if (child) expect(await stop(child)).toBe(0);
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it(
    "two consumers, 2 000 changes from 8 concurrent writers: all received, none twice, per-customer order kept; a consumer cancelled mid-way and resumed ends with the same set",
    { timeout: 120_000 },
    async () => {
      const TOTAL = 2_000;
      const t = await tenantCtx(target);
      const consumers = [t.watch(), t.watch()];
      // Both streams are open (each has sent a heartbeat) before the first write.
      await Promise.all(consumers.map((x) => x.until((k) => k.heartbeats.length > 0, 5_000, "first heartbeat")));

      // The third consumer goes away after ~500 events and comes back with its last cursor.
      const first = t.watch({ onEvent: (_e, k) => k.events.length === 500 && k.cancel() });
      const resumed = first.ended.then(() => t.watch({ afterCursor: first.lastEventCursor() }));

      const started = Date.now();
      const log = await runWriters(t, 8, TOTAL);
      const wrote = Date.now() - started;
      expect(log.errors.map((e) => `${e.code} ${e.details}`)).toEqual([]);
      expect(log.ok).toBe(TOTAL);

      for (const x of consumers) await x.until((k) => k.events.length >= TOTAL, 90_000, "all 2 000 events");
      const delivered = Date.now() - started;
      const stored = await storedEvents(t.tenant.id);
      expect(stored.map((e) => e.sequence)).toEqual(oneToN(TOTAL));
      // What was written is what is stored: one event per successful call, with its request_id.
      expect(new Set(stored.map((e) => e.requestId))).toEqual(new Set([...log.order.values()].flat()));

      for (const x of consumers) {
        await settled(x, x.events.reduce((m, e) => (e.sequence > m.sequence ? e : m)).cursor);
        expect(x.events).toHaveLength(TOTAL); // none twice, nothing extra
        expect(x.events.map((e) => e.sequence)).toEqual(oneToN(TOTAL)); // commit order, contiguous
        expect(asStored(x)).toEqual(stored);
        expectPerCustomerOrder(x, log.order);
        expect(x.end).toBeUndefined(); // still open
      }

      // The consumer that was cancelled mid-way, then resumed.
      expect(first.end?.code).toBe(grpc.status.CANCELLED);
      expect(first.events.length).toBeGreaterThanOrEqual(500);
      expect(first.events.length).toBeLessThan(TOTAL);
      const second = await within(resumed, 10_000, "the resumed consumer");
      await second.until((k) => first.events.length + k.events.length >= TOTAL, 60_000, "the rest of the events");
      await settled(second, consumers[0]!.events.at(-1)!.cursor);
      expect(second.events[0]!.sequence).toBe(first.events.at(-1)!.sequence + 1);
      const union = [...first.events, ...second.events];
      expect(union.map((e) => e.sequence)).toEqual(oneToN(TOTAL));
      expect(union.map((e) => e.requestId)).toEqual(stored.map((e) => e.requestId));
      console.log(`[event-stream] ${TOTAL} writes in ${wrote} ms; both consumers complete after ${delivered} ms`);
    },
  );

  it(
    "a consumer of tenant A never sees tenant B's events (B written concurrently)",
    { timeout: 120_000 },
    async () => {
      const a = await tenantCtx(target);
      const b = await tenantCtx(target);
      const ca = a.watch();
      const cb = b.watch();
      const [la, lb] = await Promise.all([runWriters(a, 4, 200), runWriters(b, 4, 200)]);
      for (const [x, log, t] of [
        [ca, la, a],
        [cb, lb, b],
      ] as const) {
        expect(log.ok).toBe(200);
        await x.until((k) => k.events.length >= 200, 60_000, "200 events");
        await settled(x, x.events.at(-1)!.cursor);
        expect(x.events).toHaveLength(200);
        expect(x.events.map((e) => e.sequence)).toEqual(oneToN(200)); // each tenant counts from 1
        const own = new Set(log.order.keys());
        expect(x.events.filter((e) => !own.has(e.customerId))).toEqual([]);
        expect(asStored(x)).toEqual(await storedEvents(t.tenant.id));
        expectPerCustomerOrder(x, log.order);
      }
    },
  );
});

describe("stream contents", () => {
  it("types: only those types are delivered; heartbeats carry the cursor of the last event examined", async () => {
    const t = await tenantCtx();
    const all = t.watch();
    const filtered = t.watch({ types: ["EVENT_TYPE_CUSTOMER_LINKED", "EVENT_TYPE_CUSTOMER_CLOSED"] });
    const x = (await t.call("createCustomer", { customer: simpleCustomer("x") })).customer.id;
    await t.call("updateCustomer", { customer: { id: x, metadata: { a: "1" } }, updateMask: { paths: ["metadata"] } });
    await t.call("linkCustomer", { id: x, link: { kind: "LINK_KIND_WALLET", externalId: "w-1" } });
    const y = (await t.call("createCustomer", { customer: simpleCustomer("y") })).customer.id;
    await t.call("closeCustomer", { id: y, reason: "STATUS_REASON_DUPLICATE" });
    await t.call("updateCustomer", { customer: { id: x, metadata: { a: "2" } }, updateMask: { paths: ["metadata"] } });

    await all.until((k) => k.events.length >= 6, 10_000, "6 events");
    expect(all.events.map((e) => e.type)).toEqual([
      "EVENT_TYPE_CUSTOMER_CREATED",
      "EVENT_TYPE_CUSTOMER_UPDATED",
      "EVENT_TYPE_CUSTOMER_LINKED",
      "EVENT_TYPE_CUSTOMER_CREATED",
      "EVENT_TYPE_CUSTOMER_CLOSED",
      "EVENT_TYPE_CUSTOMER_UPDATED",
    ]);
    const last = all.events.at(-1)!.cursor;
    // The filtered stream examined the last (filtered-out) update too: its heartbeat says so.
    await settled(filtered, last);
    expect(filtered.events.map((e) => [e.type, e.sequence, e.customerId])).toEqual([
      ["EVENT_TYPE_CUSTOMER_LINKED", 3, x],
      ["EVENT_TYPE_CUSTOMER_CLOSED", 5, y],
    ]);
    expect(filtered.events.map((e) => e.cursor)).toEqual([all.events[2]!.cursor, all.events[4]!.cursor]);
    expect(filtered.events[0]!.raw.link).toMatchObject({ kind: "LINK_KIND_WALLET", externalId: "w-1" });
    expect(filtered.events[1]!.raw.reason).toBe("STATUS_REASON_DUPLICATE");

    // Resuming at the heartbeat's cursor skips what was filtered out: only later events come.
    const resumed = t.watch({ afterCursor: filtered.heartbeats.at(-1)!.cursor });
    await t.call("linkCustomer", { id: x, link: { kind: "LINK_KIND_CARD", externalId: "c-1" } });
    await resumed.until((k) => k.events.length >= 1, 10_000, "the new event");
    await settled(resumed, resumed.events[0]!.cursor);
    expect(resumed.events.map((e) => [e.type, e.sequence])).toEqual([["EVENT_TYPE_CUSTOMER_LINKED", 7]]);
    await filtered.until((k) => k.events.length >= 3, 10_000, "the new link");
    expect(filtered.events[2]!.sequence).toBe(7);

    // A type outside the enum's real values is refused.
    const bad = t.watch({ types: ["EVENT_TYPE_UNSPECIFIED"] });
    await within(bad.ended, 10_000, "the refused stream");
    expect(bad.end!.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(bad.events).toEqual([]);
  });

  it(`heartbeats arrive on an idle stream (CUSTOMERMS_STREAM_HEARTBEAT_MS=${HEARTBEAT_MS}) and carry the last cursor`, async () => {
    const t = await tenantCtx();
    const x = t.watch();
    const opened = Date.now();
    await x.until((k) => k.heartbeats.length >= 3, 5_000, "3 heartbeats");
    const [h1, , h3] = x.heartbeats;
    // Nothing happened yet: the cursor is empty, the time is now, the pace is the setting's.
    expect(x.heartbeats.every((h) => h.cursor === "")).toBe(true);
    for (const h of x.heartbeats) {
      expect(h.heartbeatTime).toBeGreaterThanOrEqual(opened - 1_000);
      expect(Math.abs(h.heartbeatTime - h.receivedAt)).toBeLessThan(2_000);
    }
    expect(h3!.receivedAt - h1!.receivedAt).toBeGreaterThanOrEqual(2 * HEARTBEAT_MS - 150);
    expect(x.heartbeats.length).toBeLessThanOrEqual(Math.ceil((Date.now() - opened) / (HEARTBEAT_MS - 150)) + 1);

    await t.call("createCustomer", { customer: simpleCustomer("hb") });
    await x.until((k) => k.events.length === 1, 10_000, "the event");
    const cursor = x.events[0]!.cursor;
    expect(cursor).not.toBe("");
    await x.until((k) => k.heartbeats.filter((h) => h.afterEvents === 1).length >= 2, 5_000, "2 heartbeats after the event");
    expect(x.heartbeats.filter((h) => h.afterEvents === 1).every((h) => h.cursor === cursor)).toBe(true);
    expect(x.events).toHaveLength(1);
  });

  it("an after_cursor that this stream did not issue: INVALID_ARGUMENT, reason INVALID_CURSOR", async () => {
    const t = await tenantCtx();
    await t.call("createCustomer", { customer: simpleCustomer("cur") });
    for (const afterCursor of ["garbage", "c1.", "c1.-1", "c1.1x", "c2.1", "1", " c1.1", "c1.1 "]) {
      const x = t.watch({ afterCursor });
      await within(x.ended, 10_000, `the stream with cursor "${afterCursor}"`);
      expectStreamError(x, grpc.status.INVALID_ARGUMENT, "INVALID_CURSOR");
      expect(details(x.end!.error!).violations.map((v) => v.field)).toEqual(["after_cursor"]);
      expect(x.events).toEqual([]);
    }
  });

  it("a cursor issued by another tenant's stream: INVALID_ARGUMENT, reason INVALID_CURSOR", async () => {
    // B has many more events than A: B's last cursor is past A's whole history. Accepting it
    // would make A's consumer silently skip A's next events.
    const a = await tenantCtx();
    const b = await tenantCtx();
    for (let i = 0; i < 2; i++) await a.call("createCustomer", { customer: simpleCustomer("a") });
    for (let i = 0; i < 8; i++) await b.call("createCustomer", { customer: simpleCustomer("b") });
    const cb = b.watch();
    await cb.until((k) => k.events.length >= 8, 10_000, "B's events");
    const foreign = cb.events.at(-1)!.cursor;

    const x = a.watch({ afterCursor: foreign });
    // Either refused (the contract), or A's next events must still arrive.
    const outcome = await Promise.race([
      x.ended.then(() => "ended" as const),
      (async () => {
        await x.until((k) => k.heartbeats.length > 0, 5_000, "a heartbeat");
        for (let i = 0; i < 3; i++) await a.call("createCustomer", { customer: simpleCustomer("a") });
        return "open" as const;
      })(),
    ]);
    if (outcome === "open") {
      await x.until((k) => k.events.length >= 3 || k.end !== undefined, 3_000, "A's new events").catch(() => undefined);
    }
    expect(
      { ended: x.end?.code, events: x.events.map((e) => e.sequence) },
      "a foreign cursor was accepted, and A's events 3..5 were skipped",
    ).toEqual({ ended: grpc.status.INVALID_ARGUMENT, events: [] });
    expectStreamError(x, grpc.status.INVALID_ARGUMENT, "INVALID_CURSOR");
  });

  it("a stream without an API key, or with an unknown one: UNAUTHENTICATED", async () => {
    for (const md of [new grpc.Metadata(), metadata(bearer("cms_not_a_real_key")), metadata({ authorization: "Basic abc" })]) {
      const x = watch(c.customers, md);
      open.push(x);
      await within(x.ended, 10_000, "the unauthenticated stream");
      expect(x.end!.code).toBe(grpc.status.UNAUTHENTICATED);
      expect(x.events).toEqual([]);
      expect(x.heartbeats).toEqual([]);
    }
  });
});

describe("the end of streams", () => {
  it("server.close() ends an open stream with UNAVAILABLE; resuming from the last cursor elsewhere misses nothing", async () => {
    const other = await startServer({ CUSTOMERMS_STREAM_HEARTBEAT_MS: String(HEARTBEAT_MS) });
    const otherClients = grpcClients(other.port);
    try {
      const t = await tenantCtx(onServer(other, otherClients));
      for (let i = 0; i < 3; i++) await t.call("createCustomer", { customer: simpleCustomer("close") });
      const x = t.watch();
      await x.until((k) => k.events.length === 3, 10_000, "3 events");
      const closing = other.close();
      await within(x.ended, 10_000, "the end of the stream");
      expect(x.end!.code).toBe(grpc.status.UNAVAILABLE);
      expect(x.end!.code).toBe(14);
      expectStreamError(x, grpc.status.UNAVAILABLE, "SERVER_SHUTTING_DOWN");
      await within(closing, 15_000, "server.close()");

      // Another instance on the same database: reconnect with the last cursor.
      const md = t.md;
      const again = watch(c.customers, md, { afterCursor: x.lastEventCursor() });
      open.push(again);
      for (let i = 0; i < 2; i++) await unary(c.customers, "createCustomer", { customer: simpleCustomer("after") }, md);
      await again.until((k) => k.events.length >= 2, 10_000, "the 2 later events");
      await settled(again, again.events.at(-1)!.cursor);
      expect(again.events.map((e) => e.sequence)).toEqual([4, 5]);
    } finally {
      otherClients.close();
      await other.close();
    }
  });

  it("streams and the deadline ceiling: a stream outlives CUSTOMERMS_MAX_DEADLINE_MS and still delivers new events", async () => {
    // The ceiling bounds unary calls; a watch stream is open for as long as its consumer wants
    // (the contract ends it only at shutdown, with UNAVAILABLE). With the default 30 s ceiling a
    // stream that ended at the ceiling would stop every consumer after 30 s.
    const short = await startServer({ CUSTOMERMS_STREAM_HEARTBEAT_MS: String(HEARTBEAT_MS), CUSTOMERMS_MAX_DEADLINE_MS: "1000" });
    const shortClients = grpcClients(short.port);
    try {
      const t = await tenantCtx(onServer(short, shortClients));
      const x = t.watch();
      const opened = Date.now();
      await x.until((k) => k.heartbeats.some((h) => h.receivedAt - opened >= 2_500), 6_000, "heartbeats 2.5 s after opening");
      await t.call("createCustomer", { customer: simpleCustomer("late") });
      await x.until((k) => k.events.length === 1, 5_000, "an event committed after the ceiling");
      expect(x.end).toBeUndefined();
    } finally {
      shortClients.close();
      await short.close();
    }
  });
});

// Property tests with fast-check on every unary RPC of CustomerService, VerificationService,
// TenantService and grpc.health.v1.Health (and on WatchCustomerEvents), against a running
// service process: requests generated from each method's protobuf descriptor (type-valid, with
// values steered towards the ids, emails and countries the service knows so the domain logic is
// reached), and random bytes as the body, sent in turn over Connect (binary and JSON, HTTP/1.1)
// and gRPC (h2c, the fast path). Never INTERNAL or UNKNOWN, never a 5xx; afterwards every row in
// the database passes the domain's invariants.
import { randomUUID } from "node:crypto";
import { create, toBinary, toJsonString, type DescField, type DescMessage, type DescMethod, type DescService } from "@bufbuild/protobuf";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CustomerService } from "../../gen/finhub/customer/v1/customer_service_pb.js";
import { VerificationService } from "../../gen/finhub/customer/v1/verification_service_pb.js";
import { TenantService } from "../../gen/finhub/tenant/v1/tenant_service_pb.js";
import { Health } from "../../gen/grpc/health/v1/health_pb.js";
import { completeIndividual, localMobile } from "../support/fixtures.js";
import { grpc, unary } from "../support/grpc.js";
import { startRedisServer, type RedisServer } from "../support/redis-server.js";
import { record } from "./support/results.js";
import { ADMIN_TOKEN, query, ServiceProcess, Tally } from "./support/service.js";
import { connectOutcome, frame, grpcOutcomeOf, h1Post, h2Post, type Outcome } from "./support/wire.js";

const RUNS_PER_METHOD = 25;
const RANDOM_BODIES_PER_METHOD = 6;
const SEED = Number(process.env.CUSTOMERMS_FUZZ_SEED ?? 20261206);

// ---------------------------------------------------------------------------------------------
// Arbitraries from descriptors

interface Known {
  ids: string[];
  emails: string[];
  phones: string[];
}

function stringFor(field: DescField, known: Known): fc.Arbitrary<string> {
  const name = field.name;
  const any = fc.string({ maxLength: 40 });
  const weird = fc.string({ unit: "binary", maxLength: 20 });
  if (name === "request_id") return fc.oneof(fc.uuid(), fc.constant(""), any);
  if (name === "id" || name.endsWith("_id")) return fc.oneof(fc.constantFrom(...known.ids), fc.uuid(), fc.constant(""), any);
  if (name.includes("email")) return fc.oneof(fc.constantFrom(...known.emails), fc.emailAddress(), any);
  if (name.includes("phone")) return fc.oneof(fc.constantFrom(...known.phones), fc.constantFrom("+447700900123", "+14155552671", "+4915112345678"), any);
  if (name.includes("country") || name === "nationality" || name === "tax_residency_country") return fc.constantFrom("GB", "US", "DE", "FR", "XX", "gb", "", "G");
  if (name === "etag") return fc.constantFrom("", "1", "2", "3", "x");
  if (name === "code") return fc.oneof(fc.stringMatching(/^[0-9]{6}$/), any);
  if (name.endsWith("_token") || name === "after_cursor") return fc.oneof(fc.constantFrom("", "c1.0", "c1.5"), any);
  if (name === "paths") return fc.constantFrom("individual.family_name", "email", "metadata", "address", "phone_number", "display_name", "verification_policy", "channels", "*", "id", "nope");
  if (name.includes("date") || name === "postal_code" || name === "registration_number") return fc.oneof(any, fc.constantFrom("94105", "SW1A 1AA", "00445790"));
  return fc.oneof(any, weird);
}

function scalarFor(field: DescField, scalar: number, known: Known): fc.Arbitrary<unknown> {
  switch (scalar) {
    case 9:
      return stringFor(field, known);
    case 8:
      return fc.boolean();
    case 12:
      return fc.uint8Array({ maxLength: 16 });
    case 1:
    case 2:
      return fc.double({ noNaN: false });
    case 3:
    case 16:
    case 18:
      return fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n });
    case 4:
    case 6:
      return fc.bigInt({ min: 0n, max: 2n ** 64n - 1n });
    case 13:
    case 7:
      return fc.oneof(fc.nat(10_000), fc.integer({ min: 0, max: 2 ** 32 - 1 }));
    default:
      return fc.oneof(fc.integer({ min: -5, max: 20_000 }), fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }));
  }
}

function enumFor(values: readonly { number: number }[]): fc.Arbitrary<number> {
  return fc.oneof({ weight: 9, arbitrary: fc.constantFrom(...values.map((v) => v.number)) }, { weight: 1, arbitrary: fc.constant(99) });
}

function elementFor(field: DescField, kind: "scalar" | "enum" | "message", known: Known, depth: number): fc.Arbitrary<unknown> {
  const f = field as DescField & { scalar?: number; enum?: { values: { number: number }[] }; message?: DescMessage };
  if (kind === "scalar") return scalarFor(field, f.scalar!, known);
  if (kind === "enum") return enumFor(f.enum!.values);
  return messageFor(f.message!, known, depth + 1);
}

function valueFor(field: DescField, known: Known, depth: number): fc.Arbitrary<unknown> {
  const f = field as DescField & { listKind?: "scalar" | "enum" | "message"; mapKind?: "scalar" | "enum" | "message"; mapKey?: number };
  switch (field.fieldKind) {
    case "list":
      return fc.array(elementFor(field, f.listKind!, known, depth), { maxLength: 3 });
    case "map":
      return fc.dictionary(fc.string({ maxLength: 10 }), elementFor(field, f.mapKind!, known, depth), { maxKeys: 3 }).map((d) => {
        if (f.mapKey === 9) return d;
        return Object.fromEntries(Object.entries(d).map(([k, v], i) => [String(k.length + i), v]));
      });
    default:
      return elementFor(field, field.fieldKind as "scalar" | "enum" | "message", known, depth);
  }
}

const memo = new Map<string, fc.Arbitrary<Record<string, unknown>>>();

/** A message init object of `desc`: each field present or not, one case of each oneof or none. */
function messageFor(desc: DescMessage, known: Known, depth = 0): fc.Arbitrary<Record<string, unknown>> {
  if (depth > 4) return fc.constant({});
  const key = `${desc.typeName}@${depth}`;
  const cached = memo.get(key);
  if (cached) return cached;
  const plain: Record<string, fc.Arbitrary<unknown>> = {};
  for (const field of desc.fields) if (field.oneof === undefined) plain[field.localName] = valueFor(field, known, depth);
  const oneofs: Record<string, fc.Arbitrary<unknown>> = {};
  for (const oneof of desc.oneofs) {
    oneofs[oneof.localName] = fc.oneof(...oneof.fields.map((field) => valueFor(field, known, depth).map((value) => ({ case: field.localName, value }))));
  }
  const arb = fc
    .tuple(fc.record(plain, { requiredKeys: [] }), fc.record(oneofs, { requiredKeys: [] }))
    .map(([a, b]) => ({ ...a, ...b }) as Record<string, unknown>);
  memo.set(key, arb);
  return arb;
}

const grpcName = (code: number): string | undefined => (grpc.status as unknown as Record<number, string>)[code];

// ---------------------------------------------------------------------------------------------

describe("fuzz: every RPC, random but type-valid requests and random bytes", () => {
  let redis: RedisServer;
  let service: ServiceProcess;
  beforeAll(async () => {
    redis = await startRedisServer();
    service = new ServiceProcess({ redisUrl: redis.url });
    await service.start();
  });
  afterAll(async () => {
    await service?.dispose();
    await redis?.stop();
  });

  it("never INTERNAL/UNKNOWN, never a 5xx; afterwards every row passes the domain invariants", { timeout: 240_000 }, async () => {
    const tenant = await service.createTenant();
    const victim = await service.createTenant(); // TenantService calls aim at this one, not at the caller's own key
    const known: Known = { ids: [victim.id, victim.keyId], emails: [], phones: [] };
    for (let i = 0; i < 6; i++) {
      const c = completeIndividual(i % 2 ? "GB" : "US");
      const { customer } = await unary(service.clients.customers, "createCustomer", { customer: c }, tenant.md);
      known.ids.push(customer.id);
      known.emails.push(c.email);
      if (c.phoneNumber) known.phones.push(c.phoneNumber, localMobile("GB"));
    }
    const services: Array<{ service: DescService; auth: string }> = [
      { service: CustomerService, auth: `Bearer ${tenant.apiKey}` },
      { service: VerificationService, auth: `Bearer ${tenant.apiKey}` },
      { service: TenantService, auth: `Bearer ${ADMIN_TOKEN}` },
      { service: Health, auth: "" },
    ];
    const outcomes = new Tally();
    const bad: string[] = [];
    let requests = 0;
    type Via = "connect-proto" | "grpc" | "connect-json";
    const send = async (method: DescMethod, auth: string, body: Uint8Array, via: Via): Promise<Outcome> => {
      const path = `/${method.parent.typeName}/${method.name}`;
      requests++;
      byVia.add(via);
      if (via === "grpc") {
        return grpcOutcomeOf(await h2Post(service.port, path, { "content-type": "application/grpc", te: "trailers", authorization: auth }, frame(body)));
      }
      const type = via === "connect-json" ? "application/json" : "application/proto";
      return connectOutcome(await h1Post(service.port, path, { "content-type": type, "connect-protocol-version": "1", authorization: auth }, Buffer.from(body)));
    };
    const byVia = new Tally();
    const VIAS: readonly Via[] = ["connect-proto", "grpc", "connect-json"];
    const judge = (what: string, o: Outcome): boolean => {
      outcomes.add(o.code);
      const fine = o.code !== "INTERNAL" && o.code !== "UNKNOWN" && !o.code.startsWith("NETWORK") && o.httpStatus < 500;
      if (!fine) bad.push(`${what}: ${JSON.stringify(o)}`);
      return fine;
    };
    const methods: string[] = [];
    /** fc.assert, with the offending calls in the failure message. */
    const check = async <T>(property: fc.IAsyncProperty<T>, params: fc.Parameters<T>) => {
      try {
        await fc.assert(property, params);
      } catch (err) {
        throw new Error(`${(err as Error).message}\nnot fine:\n${bad.slice(0, 5).join("\n")}`);
      }
    };
    for (const { service: svc, auth } of services) {
      for (const method of svc.methods) {
        if (method.methodKind !== "unary") continue; // WatchCustomerEvents: below, with a deadline
        methods.push(method.name);
        let n = 0;
        await check(
          fc.asyncProperty(messageFor(method.input, known), async (init) => {
            const message = create(method.input, init as never);
            let via = VIAS[n++ % 3]!;
            let body: Uint8Array;
            try {
              body = via === "connect-json" ? new TextEncoder().encode(toJsonString(method.input, message)) : toBinary(method.input, message);
            } catch {
              // Not representable in JSON (e.g. a Timestamp outside years 1-9999): send it binary.
              via = "connect-proto";
              body = toBinary(method.input, message);
            }
            const o = await send(method, auth, body, via);
            return judge(`${method.name} ${JSON.stringify(init, (_k, v) => (typeof v === "bigint" ? String(v) : v)).slice(0, 300)}`, o);
          }),
          { numRuns: RUNS_PER_METHOD, seed: SEED, endOnFailure: true },
        );
        await check(
          fc.asyncProperty(fc.uint8Array({ maxLength: 200 }), fc.constantFrom(...VIAS), async (bytes, via) =>
            judge(`${method.name} random bytes via ${via} ${Buffer.from(bytes).toString("hex").slice(0, 100)}`, await send(method, auth, bytes, via)),
          ),
          { numRuns: RANDOM_BODIES_PER_METHOD, seed: SEED, endOnFailure: true },
        );
      }
    }
    // The server stream: random requests with a 300 ms deadline (gRPC, h2c). A valid one streams
    // until the deadline (DEADLINE_EXCEEDED), an invalid one is refused; neither is INTERNAL.
    const watchMethod = CustomerService.methods.find((m) => m.methodKind === "server_streaming")!;
    await check(
      fc.asyncProperty(messageFor(watchMethod.input, known), async (init) => {
        requests++;
        const body = frame(toBinary(watchMethod.input, create(watchMethod.input, init as never)));
        const r = await h2Post(service.port, `/${CustomerService.typeName}/${watchMethod.name}`, { "content-type": "application/grpc", te: "trailers", authorization: `Bearer ${tenant.apiKey}`, "grpc-timeout": "300m" }, body);
        return judge(`${watchMethod.name} ${JSON.stringify(init).slice(0, 200)}`, grpcOutcomeOf(r));
      }),
      { numRuns: 10, seed: SEED, endOnFailure: true },
    );
    methods.push(watchMethod.name);

    // Mutations of a valid customer (so the domain rules, not only the shape checks, are
    // reached), then a random walk of lifecycle calls and verification marks on it, over grpc-js.
    const grpcJudge = async (what: string, run: () => Promise<unknown>) => {
      requests++;
      try {
        await run();
        return judge(what, { code: "OK", httpStatus: 200 });
      } catch (err) {
        const code = (err as { code?: number }).code;
        const name = code === undefined ? `NETWORK:${(err as Error).message}` : ({ 2: "UNKNOWN", 13: "INTERNAL" } as Record<number, string>)[code] ?? `GRPC_${code}`;
        return judge(what, { code: code !== undefined && name.startsWith("GRPC_") ? (grpcName(code) ?? name) : name, httpStatus: 200 });
      }
    };
    // Type-valid mutations (a value of the field's own type: the grpc-js client refuses others).
    const text = fc.oneof(
      fc.string({ maxLength: 30 }),
      fc.string({ unit: "binary", maxLength: 12 }),
      fc.constantFrom("", "GB", "US", "XX", "+447700900123", "ada@example.com", "SW1A 1AA"),
    );
    const byPath: Record<string, fc.Arbitrary<unknown>> = {
      email: text,
      phoneNumber: text,
      countryCode: text,
      externalId: text,
      "address.postalCode": text,
      "address.countryCode": text,
      "individual.givenName": text,
      "individual.familyName": text,
      "individual.nationality": text,
      metadata: fc.dictionary(fc.string({ maxLength: 8 }), fc.string({ maxLength: 8 }), { maxKeys: 3 }),
      "individual.dateOfBirth": fc.oneof(
        fc.constant(null),
        fc.record({ year: fc.integer({ min: 0, max: 3000 }), month: fc.integer({ min: 0, max: 13 }), day: fc.integer({ min: 0, max: 32 }) }),
      ),
      "individual.nationalId": fc.oneof(fc.constant(null), fc.record({ type: fc.constantFrom("GB_NINO", "US_SSN", "XX", ""), value: fc.string({ maxLength: 15 }) })),
    };
    const mutation = fc.array(
      fc.constantFrom(...Object.keys(byPath)).chain((path) => byPath[path]!.map((value) => [path, value] as [string, unknown])),
      { minLength: 1, maxLength: 3 },
    );
    const apply = (base: Record<string, any>, muts: Array<[string, unknown]>) => {
      const out = structuredClone(base);
      for (const [path, value] of muts) {
        const [head, tail] = path.split(".") as [string, string | undefined];
        if (tail === undefined) out[head] = value;
        else out[head] = { ...(out[head] ?? {}), [tail]: value };
      }
      return out;
    };
    const snake = (p: string) => p.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
    const ops = fc.array(fc.constantFrom("activate", "suspend", "close", "erase", "markVerified", "update", "get"), { maxLength: 6 });
    let walked = 0;
    await check(
      fc.asyncProperty(mutation, mutation, ops, async (createMuts, updateMuts, walk) => {
        const base = completeIndividual("GB");
        let id: string | undefined;
        let fine = await grpcJudge(`CreateCustomer mutated ${JSON.stringify(createMuts).slice(0, 200)}`, async () => {
          id = (await unary(service.clients.customers, "createCustomer", { customer: apply(base, createMuts), requestId: randomUUID() }, tenant.md)).customer.id;
        });
        if (id === undefined) {
          id = (await unary(service.clients.customers, "createCustomer", { customer: completeIndividual("GB") }, tenant.md)).customer.id;
        }
        walked++;
        const md = tenant.md;
        for (const op of walk) {
          const c = service.clients.customers;
          if (op === "markVerified") {
            await query("update customers set email_verified = true, email_verify_time = now(), phone_verified = phone_number is not null, phone_verify_time = case when phone_number is not null then now() end where id = $1", [id]);
            continue;
          }
          const req =
            op === "update"
              ? { customer: { ...apply({}, updateMuts), id }, updateMask: { paths: updateMuts.map(([p]) => snake(p)) } }
              : op === "suspend" || op === "close"
                ? { id, reason: "STATUS_REASON_CUSTOMER_REQUEST", note: "fuzz" }
                : { id };
          const method = `${op}Customer`;
          fine = (await grpcJudge(`${method} ${JSON.stringify(req).slice(0, 200)}`, () => unary(c, method, req, md))) && fine;
        }
        return fine;
      }),
      { numRuns: 40, seed: SEED, endOnFailure: true },
    );
    methods.push("CreateCustomer (mutated valid) + lifecycle walks");

    expect(bad).toEqual([]);
    expect(service.running).toBe(true);

    // The domain's invariants over every row of the suite's database (this run's and the other cases').
    const [inv] = await query<Record<string, number>>(`select
      (select count(*)::int from customers where status not in ('pending','active','suspended','closed')) as bad_status,
      (select count(*)::int from customers where type not in ('individual','business')) as bad_type,
      (select count(*)::int from customers where version < 1 or update_time < create_time or status_time < create_time) as bad_versions_or_times,
      (select count(*)::int from customers where email_verified <> (email_verify_time is not null) or phone_verified <> (phone_verify_time is not null)) as bad_verified_flags,
      (select count(*)::int from customers where phone_verified and phone_number is null) as verified_without_phone,
      (select count(*)::int from customers c where (select count(*) from customer_events e where e.tenant_id = c.tenant_id and e.customer_id = c.id and e.type = 'CUSTOMER_CREATED') <> 1) as without_one_created_event,
      (select count(*)::int from customer_events e where not exists (select 1 from customers c where c.tenant_id = e.tenant_id and c.id = e.customer_id)) as orphan_events,
      (select count(*)::int from (select tenant_id from customer_events group by tenant_id having min(seq) <> 1 or max(seq) <> count(*)) g) as tenants_with_seq_gaps,
      (select count(*)::int from tenant_event_sequences s where s.last_seq <> (select coalesce(max(seq), 0) from customer_events e where e.tenant_id = s.tenant_id)) as bad_sequence_rows,
      (select count(*)::int from (select tenant_id, lower(email) from customers where status <> 'closed' group by 1, 2 having count(*) > 1) d) as duplicate_live_emails,
      (select count(*)::int from api_keys k where not exists (select 1 from tenants t where t.id = k.tenant_id)) as orphan_api_keys`);
    const violations = Object.values(inv!).reduce((a, b) => a + b, 0);
    expect(inv).toEqual(Object.fromEntries(Object.keys(inv!).map((k) => [k, 0])));
    const [rows] = await query<{ customers: number; events: number; tenants: number }>(
      "select (select count(*)::int from customers) as customers, (select count(*)::int from customer_events) as events, (select count(*)::int from tenants) as tenants",
    );

    record({
      id: "08-fuzz",
      title: "Property tests (fast-check) on every RPC",
      proves: "Random type-valid requests and random bytes on every RPC, over Connect (binary and JSON) and gRPC, never produce INTERNAL/UNKNOWN or a 5xx, and never leave a row that breaks the domain's invariants.",
      file: "test/faults/fuzz.test.ts",
      test: "never INTERNAL/UNKNOWN, never a 5xx; afterwards every row passes the domain invariants",
      figures: {
        seed: SEED,
        "RPCs fuzzed (every unary one, health included, and WatchCustomerEvents)": methods.length - 1,
        "lifecycle walks on mutated valid customers": walked,
        requests,
        ...Object.fromEntries(Object.entries(byVia.counts).sort().map(([k, v]) => [`sent via ${k}`, v])),
        ...Object.fromEntries(Object.entries(outcomes.counts).sort().map(([k, v]) => [`answered ${k}`, v])),
        "INTERNAL, UNKNOWN, 5xx or reset": bad.length,
        "invariants checked": Object.keys(inv!).length,
        "rows checked: customers / events / tenants": `${rows!.customers} / ${rows!.events} / ${rows!.tenants}`,
        "invariant violations": violations,
      },
    });
  });
});

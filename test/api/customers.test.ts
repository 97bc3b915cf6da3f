// CustomerService end to end (acceptance: "Create, get, update, list, activate/suspend/close for
// both an individual and a business with three representatives; business with ownership summing
// to 101 % → INVALID_ARGUMENT"), over the grpc-js client built from proto/.
import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  bearer,
  createTenant,
  markContactsVerified,
  sql,
  startServer,
  type TestServer,
  type TestTenant,
} from "../support/app.js";
import { withServer } from "../support/file-server.js";
import { completeIndividual, validIdentifier } from "../support/fixtures.js";
import { details, grpc, grpcClients, metadata, unary, unaryError, preconditionFailures } from "../support/grpc.js";

const DOMAIN = "customerms.finhub";
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

let server: TestServer;
let c: ReturnType<typeof grpcClients>;

withServer({}, (s, clients) => {
  server = s;
  c = clients;
});

// ---------------------------------------------------------------------------------------------
// Helpers

function expectError(err: grpc.ServiceError, code: number, reason: string): void {
  const info = details(err).errorInfo;
  expect({ code: err.code, reason: info?.reason, domain: info?.domain }).toEqual({ code, reason, domain: DOMAIN });
}

/** INVALID_ARGUMENT with reason INVALID_ARGUMENT and (at least) this violation. */
function expectViolation(err: grpc.ServiceError, field: string, ruleId?: string): void {
  expectError(err, grpc.status.INVALID_ARGUMENT, "INVALID_ARGUMENT");
  const violations = details(err).violations;
  expect(violations.map((v) => v.field)).toContain(field);
  if (ruleId !== undefined) {
    expect(violations.filter((v) => v.field === field).map((v) => v.ruleId)).toContain(ruleId);
  }
}

interface Ctx {
  tenant: TestTenant;
  md: grpc.Metadata;
  call<T = any>(method: string, request: object): Promise<T>;
  fail(method: string, request: object): Promise<grpc.ServiceError>;
}

async function tenantCtx(): Promise<Ctx> {
  const tenant = await createTenant(server);
  const md = metadata(bearer(tenant.apiKey));
  return {
    tenant,
    md,
    call: (method, request) => unary(c.customers, method, request, md),
    fail: (method, request) => unaryError(c.customers, method, request, md),
  };
}

async function countCustomers(tenantId: string): Promise<number> {
  const rows = await sql<{ n: number }>(server.databaseUrl, "select count(*)::int as n from customers where tenant_id = $1", [tenantId]);
  return rows[0]!.n;
}

async function eventTypes(tenantId: string, customerId: string): Promise<string[]> {
  const rows = await sql<{ type: string }>(
    server.databaseUrl,
    "select type from customer_events where tenant_id = $1 and customer_id = $2 order by time, id",
    [tenantId, customerId],
  );
  return rows.map((r) => r.type);
}

const address = {
  line1: "12 St James's Square",
  line2: "Flat 3",
  city: "London",
  region: "Greater London",
  postalCode: "SW1Y 4JH",
  countryCode: "GB",
};

function individualFull(s = randomUUID()) {
  return {
    individual: {
      givenName: "Ada",
      middleName: "Augusta",
      familyName: "Lovelace",
      dateOfBirth: { year: 1985, month: 12, day: 10 },
      nationality: "GB",
      taxResidencyCountry: "IE",
      nationalId: { type: "GB_NINO", value: validIdentifier("GB_NINO") }, // AB 12 34 56 C
      occupation: "Mathematician",
    },
    email: `ada.${s}@example.com`,
    phoneNumber: "+447911123456",
    countryCode: "GB",
    address,
    externalId: `ext-${s}`,
    metadata: { segment: "retail", "source.channel": "web" },
  };
}

function minimalIndividual(email = `grace.${randomUUID()}@example.com`, extra: Record<string, unknown> = {}) {
  return { individual: { givenName: "Grace", familyName: "Hopper" }, email, countryCode: "US", ...extra };
}

const representatives = () => [
  {
    givenName: "Charles",
    familyName: "Babbage",
    dateOfBirth: { year: 1971, month: 12, day: 26 },
    nationality: "GB",
    email: "charles@example.com",
    roles: ["REPRESENTATIVE_ROLE_DIRECTOR", "REPRESENTATIVE_ROLE_BENEFICIAL_OWNER"],
    ownershipBasisPoints: 5000,
    title: "Chief Executive",
  },
  {
    givenName: "Mary",
    familyName: "Somerville",
    dateOfBirth: { year: 1980, month: 12, day: 26 },
    nationality: "FR",
    email: "mary@example.com",
    roles: ["REPRESENTATIVE_ROLE_BENEFICIAL_OWNER"],
    ownershipBasisPoints: 3000,
    title: "",
  },
  {
    givenName: "Luigi",
    familyName: "Menabrea",
    dateOfBirth: null,
    nationality: "IT",
    email: "",
    roles: ["REPRESENTATIVE_ROLE_BENEFICIAL_OWNER", "REPRESENTATIVE_ROLE_AUTHORIZED_SIGNER"],
    ownershipBasisPoints: 2000,
    title: "Treasurer",
  },
];

function businessFull(s = randomUUID(), reps: object[] = representatives()) {
  return {
    business: {
      legalName: "Analytical Engines Ltd",
      tradingName: "AE",
      entityType: "BUSINESS_ENTITY_TYPE_LLC",
      registrationNumber: "01234567",
      taxId: { type: "GB_VAT", value: validIdentifier("GB_VAT") }, // GB 999 9999 73
      incorporationCountry: "GB",
      incorporationDate: { year: 2001, month: 5, day: 17 },
      website: "https://engines.example.com/about",
      industry: "NACE 62.01",
      representatives: reps,
    },
    email: `office.${s}@example.com`,
    phoneNumber: "+14155552671",
    countryCode: "GB",
    address,
    externalId: `biz-${s}`,
    metadata: { tier: "gold" },
  };
}

const seconds = (t: { seconds: string } | null | undefined) => Number(t?.seconds ?? 0);
const millis = (t: { seconds: string; nanos: number }) => Number(t.seconds) * 1000 + Math.floor(t.nanos / 1e6);

// ---------------------------------------------------------------------------------------------

describe("CreateCustomer and GetCustomer", () => {
  it("an individual with every field round-trips; national_id comes back masked; PENDING, etag 1", async () => {
    const t = await tenantCtx();
    const input = individualFull();
    const before = Date.now();
    const created = (await t.call("createCustomer", { customer: input })).customer;

    expect(created.id).toMatch(UUID);
    expect(created.type).toBe("CUSTOMER_TYPE_INDIVIDUAL");
    expect(created.status).toBe("CUSTOMER_STATUS_PENDING");
    expect(created.profile).toBe("individual");
    expect(created.individual).toEqual({
      ...input.individual,
      nationalId: { type: "GB_NINO", value: "", maskedValue: "…456C" },
    });
    expect(created.email).toBe(input.email);
    expect(created.phoneNumber).toBe("+447911123456");
    expect(created.countryCode).toBe("GB");
    expect(created.address).toEqual(address);
    expect(created.externalId).toBe(input.externalId);
    expect(created.metadata).toEqual(input.metadata);
    expect(created.emailVerified).toBe(false);
    expect(created.phoneVerified).toBe(false);
    expect(created.etag).toBe("1");
    expect(created.links).toEqual([]);
    expect(created.statusReason).toBe("STATUS_REASON_UNSPECIFIED");
    expect(created.statusNote).toBe("");
    expect(created.allowedTransitions).toEqual(["CUSTOMER_STATUS_ACTIVE", "CUSTOMER_STATUS_CLOSED"]);
    expect(created.statusTime).toEqual(created.createTime);
    expect(created.updateTime).toEqual(created.createTime);
    expect(millis(created.createTime)).toBeGreaterThanOrEqual(before - 1000);
    expect(millis(created.createTime)).toBeLessThanOrEqual(Date.now() + 1000);

    const got = (await t.call("getCustomer", { id: created.id })).customer;
    expect(got).toEqual(created);
    expect(await eventTypes(t.tenant.id, created.id)).toEqual(["CUSTOMER_CREATED"]);
  });

  it("the email is stored and returned in lower case", async () => {
    const t = await tenantCtx();
    const s = randomUUID();
    const created = (await t.call("createCustomer", { customer: minimalIndividual(`Grace.Hopper.${s}@Example.COM`) })).customer;
    expect(created.email).toBe(`grace.hopper.${s}@example.com`);
  });

  it("output-only fields sent on create are ignored", async () => {
    const t = await tenantCtx();
    const created = (
      await t.call("createCustomer", {
        customer: minimalIndividual(undefined, {
          id: randomUUID(),
          status: "CUSTOMER_STATUS_ACTIVE",
          emailVerified: true,
          phoneVerified: true,
          etag: "42",
          statusReason: "STATUS_REASON_FRAUD",
          links: [{ kind: "LINK_KIND_WALLET", externalId: "w-9" }],
        }),
      })
    ).customer;
    expect(created.status).toBe("CUSTOMER_STATUS_PENDING");
    expect(created.emailVerified).toBe(false);
    expect(created.phoneVerified).toBe(false);
    expect(created.etag).toBe("1");
    expect(created.statusReason).toBe("STATUS_REASON_UNSPECIFIED");
    expect(created.links).toEqual([]);
    const rows = await sql(server.databaseUrl, "select id from customers where tenant_id = $1", [t.tenant.id]);
    expect(rows.map((r) => r.id)).toEqual([created.id]);
  });

  it("a business with all fields and three representatives: server ids for representatives, tax_id masked", async () => {
    const t = await tenantCtx();
    const input = businessFull();
    const created = (await t.call("createCustomer", { customer: input })).customer;
    expect(created.type).toBe("CUSTOMER_TYPE_BUSINESS");
    expect(created.status).toBe("CUSTOMER_STATUS_PENDING");
    expect(created.profile).toBe("business");
    const reps = created.business.representatives as Array<{ id: string }>;
    expect(reps).toHaveLength(3);
    for (const r of reps) expect(r.id).toMatch(UUID);
    expect(new Set(reps.map((r) => r.id)).size).toBe(3);
    expect(created.business).toEqual({
      ...input.business,
      taxId: { type: "GB_VAT", value: "", maskedValue: "…9973" },
      representatives: input.business.representatives.map((r, i) => ({ ...r, id: reps[i]!.id })),
    });
    expect(created.address).toEqual(address);
    expect(created.metadata).toEqual({ tier: "gold" });
    expect(created.etag).toBe("1");
    expect(created.allowedTransitions).toEqual(["CUSTOMER_STATUS_ACTIVE", "CUSTOMER_STATUS_CLOSED"]);

    const got = (await t.call("getCustomer", { id: created.id })).customer;
    expect(got).toEqual(created);
  });

  it("ownership 5000 + 3000 + 2001 basis points (100.01 %) → INVALID_ARGUMENT on representatives; nothing written", async () => {
    const t = await tenantCtx();
    const reps = representatives();
    reps[2]!.ownershipBasisPoints = 2001;
    const err = await t.fail("createCustomer", { customer: businessFull(undefined, reps) });
    expectViolation(err, "customer.business.representatives", "representatives.ownership_total");
    expect(await countCustomers(t.tenant.id)).toBe(0);
    const events = await sql(server.databaseUrl, "select 1 from customer_events where tenant_id = $1", [t.tenant.id]);
    expect(events).toHaveLength(0);
  });

  it("ownership exactly 10000 basis points is accepted", async () => {
    const t = await tenantCtx();
    const reps = representatives();
    reps[0]!.ownershipBasisPoints = 5000;
    reps[1]!.ownershipBasisPoints = 4999;
    reps[2]!.ownershipBasisPoints = 1;
    const created = (await t.call("createCustomer", { customer: businessFull(undefined, reps) })).customer;
    expect(created.business.representatives.map((r: any) => r.ownershipBasisPoints)).toEqual([5000, 4999, 1]);
  });

  describe("business rules, each with its field path; nothing written", () => {
    const nextYear = new Date().getUTCFullYear() + 1;
    const cases: Array<[string, () => object, string, string | undefined]> = [
      [
        "date_of_birth in the future",
        () => minimalIndividual(undefined, { individual: { givenName: "A", familyName: "B", dateOfBirth: { year: nextYear, month: 1, day: 1 } } }),
        "customer.individual.date_of_birth",
        "date.not_future",
      ],
      [
        "date_of_birth 2023-02-30",
        () => minimalIndividual(undefined, { individual: { givenName: "A", familyName: "B", dateOfBirth: { year: 2023, month: 2, day: 30 } } }),
        "customer.individual.date_of_birth",
        "date.valid",
      ],
      [
        "date_of_birth in 1850",
        () => minimalIndividual(undefined, { individual: { givenName: "A", familyName: "B", dateOfBirth: { year: 1850, month: 6, day: 1 } } }),
        "customer.individual.date_of_birth",
        "date.min_year",
      ],
      [
        "phone number not in the numbering plan (+1 555 000 1234)",
        () => minimalIndividual(undefined, { phoneNumber: "+15550001234" }),
        "customer.phone_number",
        "phone_number.valid",
      ],
      [
        "a representative with no roles",
        () => {
          const reps = representatives();
          reps[1]!.roles = [];
          return businessFull(undefined, reps);
        },
        "customer.business.representatives.1.roles",
        "repeated.min_items",
      ],
      [
        "a representative born in the future",
        () => {
          const reps = representatives();
          reps[1]!.dateOfBirth = { year: nextYear, month: 1, day: 1 };
          return businessFull(undefined, reps);
        },
        "customer.business.representatives.1.date_of_birth",
        "date.not_future",
      ],
      [
        "website ftp://x",
        () => {
          const b = businessFull();
          b.business.website = "ftp://x";
          return b;
        },
        "customer.business.website",
        undefined,
      ],
    ];
    for (const [name, body, field, ruleId] of cases) {
      it(`${name} → INVALID_ARGUMENT on ${field}`, async () => {
        const t = await tenantCtx();
        const err = await t.fail("createCustomer", { customer: body() });
        expectViolation(err, field, ruleId);
        expect(await countCustomers(t.tenant.id)).toBe(0);
      });
    }
  });

  it("GetCustomer: unknown id and another tenant's customer are both NOT_FOUND, CUSTOMER_NOT_FOUND", async () => {
    const a = await tenantCtx();
    const b = await tenantCtx();
    const created = (await a.call("createCustomer", { customer: minimalIndividual() })).customer;
    expectError(await b.fail("getCustomer", { id: created.id }), grpc.status.NOT_FOUND, "CUSTOMER_NOT_FOUND");
    expectError(await a.fail("getCustomer", { id: randomUUID() }), grpc.status.NOT_FOUND, "CUSTOMER_NOT_FOUND");
  });
});

// ---------------------------------------------------------------------------------------------

describe("lifecycle", () => {
  const kinds: Array<["individual" | "business", () => object]> = [
    ["individual", () => individualFull()],
    ["business", () => businessFull()],
  ];
  for (const [kind, body] of kinds) {
    it(`${kind}: PENDING → ACTIVE → SUSPENDED → ACTIVE → CLOSED, with refusals that write nothing`, async () => {
      const t = await tenantCtx();
      const created = (await t.call("createCustomer", { customer: body() })).customer;
      const id = created.id as string;
      const expected = ["CUSTOMER_CREATED"];
      const events = () => eventTypes(t.tenant.id, id);

      // Nothing verified: both conditions listed.
      let err = await t.fail("activateCustomer", { id });
      expectError(err, grpc.status.FAILED_PRECONDITION, "ACTIVATION_REQUIREMENTS_NOT_MET");
      expect(preconditionFailures(err).map((v) => v.type)).toEqual(["EMAIL_NOT_VERIFIED", "PHONE_NOT_VERIFIED"]);
      expect(await events()).toEqual(expected);

      // Email only.
      await markContactsVerified(server, t.tenant.id, id, { email: true });
      err = await t.fail("activateCustomer", { id });
      expectError(err, grpc.status.FAILED_PRECONDITION, "ACTIVATION_REQUIREMENTS_NOT_MET");
      expect(preconditionFailures(err).map((v) => v.type)).toEqual(["PHONE_NOT_VERIFIED"]);
      expect(await events()).toEqual(expected);

      // Both: activation works with the default reason.
      await markContactsVerified(server, t.tenant.id, id);
      const active = (await t.call("activateCustomer", { id, etag: "1" })).customer;
      expect(active.status).toBe("CUSTOMER_STATUS_ACTIVE");
      expect(active.statusReason).toBe("STATUS_REASON_ONBOARDING_COMPLETED");
      expect(active.allowedTransitions).toEqual(["CUSTOMER_STATUS_SUSPENDED", "CUSTOMER_STATUS_CLOSED"]);
      expect(active.etag).toBe("2");
      expect(millis(active.statusTime)).toBeGreaterThanOrEqual(millis(created.statusTime));
      expect(active.updateTime).toEqual(active.statusTime);
      expected.push("CUSTOMER_ACTIVATED");
      expect(await events()).toEqual(expected);

      // Activating an active customer is not a transition.
      expectError(await t.fail("activateCustomer", { id }), grpc.status.FAILED_PRECONDITION, "TRANSITION_NOT_ALLOWED");

      // Reason is required for suspend and close; OTHER needs a note.
      err = await t.fail("suspendCustomer", { id, reason: "STATUS_REASON_UNSPECIFIED" });
      expectViolation(err, "reason");
      err = await t.fail("closeCustomer", { id, reason: "STATUS_REASON_UNSPECIFIED" });
      expectViolation(err, "reason");
      for (const method of ["suspendCustomer", "closeCustomer"]) {
        err = await t.fail(method, { id, reason: "STATUS_REASON_OTHER" });
        expectError(err, grpc.status.INVALID_ARGUMENT, "INVALID_ARGUMENT");
        expect(details(err).violations.map((v) => v.ruleId)).toContain("note.required_for_other");
      }
      // A stale etag.
      err = await t.fail("suspendCustomer", { id, etag: "1", reason: "STATUS_REASON_FRAUD" });
      expectError(err, grpc.status.ABORTED, "ETAG_MISMATCH");
      expect(await events()).toEqual(expected);
      expect((await t.call("getCustomer", { id })).customer).toEqual(active);

      // Suspend.
      const suspended = (await t.call("suspendCustomer", { id, etag: "2", reason: "STATUS_REASON_FRAUD", note: "chargeback pattern" }))
        .customer;
      expect(suspended.status).toBe("CUSTOMER_STATUS_SUSPENDED");
      expect(suspended.statusReason).toBe("STATUS_REASON_FRAUD");
      expect(suspended.statusNote).toBe("chargeback pattern");
      expect(suspended.allowedTransitions).toEqual(["CUSTOMER_STATUS_ACTIVE", "CUSTOMER_STATUS_CLOSED"]);
      expect(suspended.etag).toBe("3");
      expected.push("CUSTOMER_SUSPENDED");
      expect(await events()).toEqual(expected);

      err = await t.fail("suspendCustomer", { id, reason: "STATUS_REASON_FRAUD" });
      expectError(err, grpc.status.FAILED_PRECONDITION, "TRANSITION_NOT_ALLOWED");
      expect(await events()).toEqual(expected);

      // Reactivate: default reason RESOLVED.
      const reactivated = (await t.call("activateCustomer", { id })).customer;
      expect(reactivated.status).toBe("CUSTOMER_STATUS_ACTIVE");
      expect(reactivated.statusReason).toBe("STATUS_REASON_RESOLVED");
      expect(reactivated.statusNote).toBe("");
      expected.push("CUSTOMER_ACTIVATED");
      expect(await events()).toEqual(expected);

      // Close.
      const closed = (await t.call("closeCustomer", { id, reason: "STATUS_REASON_CUSTOMER_REQUEST" })).customer;
      expect(closed.status).toBe("CUSTOMER_STATUS_CLOSED");
      expect(closed.statusReason).toBe("STATUS_REASON_CUSTOMER_REQUEST");
      expect(closed.allowedTransitions).toEqual([]);
      expect(closed.etag).toBe("5");
      expected.push("CUSTOMER_CLOSED");
      expect(await events()).toEqual(expected);

      for (const [method, req] of [
        ["closeCustomer", { id, reason: "STATUS_REASON_CUSTOMER_REQUEST" }],
        ["activateCustomer", { id }],
        ["suspendCustomer", { id, reason: "STATUS_REASON_FRAUD" }],
      ] as const) {
        expectError(await t.fail(method, req), grpc.status.FAILED_PRECONDITION, "TRANSITION_NOT_ALLOWED");
      }
      expect(await events()).toEqual(expected);
      expect((await t.call("getCustomer", { id })).customer).toEqual(closed);
    });
  }

  it("PENDING → CLOSED directly; a reason and note given on activation are kept", async () => {
    const t = await tenantCtx();
    const a = (await t.call("createCustomer", { customer: minimalIndividual() })).customer;
    const closed = (await t.call("closeCustomer", { id: a.id, reason: "STATUS_REASON_DUPLICATE", note: "dup of another" })).customer;
    expect([closed.status, closed.statusReason, closed.statusNote]).toEqual([
      "CUSTOMER_STATUS_CLOSED",
      "STATUS_REASON_DUPLICATE",
      "dup of another",
    ]);

    // Complete for its country (US): only the contacts stand between it and activation.
    const b = (await t.call("createCustomer", { customer: completeIndividual("US") })).customer;
    await markContactsVerified(server, t.tenant.id, b.id);
    let err = await t.fail("activateCustomer", { id: b.id, reason: "STATUS_REASON_OTHER" });
    expectError(err, grpc.status.INVALID_ARGUMENT, "INVALID_ARGUMENT");
    expect(details(err).violations.map((v) => v.ruleId)).toContain("note.required_for_other");
    const active = (await t.call("activateCustomer", { id: b.id, reason: "STATUS_REASON_OTHER", note: "manual review" })).customer;
    expect([active.status, active.statusReason, active.statusNote]).toEqual([
      "CUSTOMER_STATUS_ACTIVE",
      "STATUS_REASON_OTHER",
      "manual review",
    ]);
    expect(await eventTypes(t.tenant.id, b.id)).toEqual(["CUSTOMER_CREATED", "CUSTOMER_ACTIVATED"]);
    err = await t.fail("activateCustomer", { id: randomUUID() });
    expectError(err, grpc.status.NOT_FOUND, "CUSTOMER_NOT_FOUND");
  });

  it("a customer without a phone number cannot be activated even with both flags set (PHONE_NOT_VERIFIED)", async () => {
    const t = await tenantCtx();
    // Everything the country (US) requires but a phone number.
    const a = (await t.call("createCustomer", { customer: completeIndividual("US", { phoneNumber: undefined }) })).customer;
    expect(a.phoneNumber).toBe("");
    await markContactsVerified(server, t.tenant.id, a.id, { email: true });
    const err = await t.fail("activateCustomer", { id: a.id });
    expectError(err, grpc.status.FAILED_PRECONDITION, "ACTIVATION_REQUIREMENTS_NOT_MET");
    expect(preconditionFailures(err).map((v) => [v.type, v.subject])).toEqual([["PHONE_NOT_VERIFIED", "phone_number"]]);
  });
});

// ---------------------------------------------------------------------------------------------

describe("uniqueness among non-closed customers", () => {
  const fields: Array<[string, string, (v: string) => object, string]> = [
    ["email", "EMAIL_ALREADY_EXISTS", (v) => ({ email: v }), "dup@example.com"],
    ["phone_number", "PHONE_NUMBER_ALREADY_EXISTS", (v) => ({ phoneNumber: v }), "+4915123456789"],
    ["external_id", "EXTERNAL_ID_ALREADY_EXISTS", (v) => ({ externalId: v }), "crm-0001"],
  ];
  for (const [field, reason, set, value] of fields) {
    it(`${field}: ALREADY_EXISTS ${reason} naming the holder, freed by closing it, per tenant`, async () => {
      const t = await tenantCtx();
      const body = (extra: object) => ({ customer: { ...minimalIndividual(), ...extra } });
      const first = (await t.call("createCustomer", body(set(value)))).customer;

      const err = await t.fail("createCustomer", body(set(value)));
      expectError(err, grpc.status.ALREADY_EXISTS, reason);
      expect(details(err).errorInfo?.metadata.customer_id).toBe(first.id);
      expect(await countCustomers(t.tenant.id)).toBe(1);

      // Another tenant may use the same value.
      const other = await tenantCtx();
      const elsewhere = (await other.call("createCustomer", body(set(value)))).customer;
      expect(elsewhere.id).not.toBe(first.id);

      // Closing the holder frees the value.
      await t.call("closeCustomer", { id: first.id, reason: "STATUS_REASON_CUSTOMER_REQUEST" });
      const second = (await t.call("createCustomer", body(set(value)))).customer;
      expect(second.id).not.toBe(first.id);
      expect(await countCustomers(t.tenant.id)).toBe(2);

      // And the new holder is the one named from now on.
      const again = await t.fail("createCustomer", body(set(value)));
      expectError(again, grpc.status.ALREADY_EXISTS, reason);
      expect(details(again).errorInfo?.metadata.customer_id).toBe(second.id);
    });
  }

  it("emails collide case-insensitively", async () => {
    const t = await tenantCtx();
    const s = randomUUID();
    const first = (await t.call("createCustomer", { customer: minimalIndividual(`case.${s}@example.com`) })).customer;
    const err = await t.fail("createCustomer", { customer: minimalIndividual(`CASE.${s}@EXAMPLE.com`) });
    expectError(err, grpc.status.ALREADY_EXISTS, "EMAIL_ALREADY_EXISTS");
    expect(details(err).errorInfo?.metadata.customer_id).toBe(first.id);
  });
});

// ---------------------------------------------------------------------------------------------

describe("links", () => {
  it("link, duplicate, unlink, unlink again, closed customer, bad kind, other tenant", async () => {
    const t = await tenantCtx();
    const created = (await t.call("createCustomer", { customer: minimalIndividual() })).customer;
    const id = created.id as string;

    const linked = (await t.call("linkCustomer", { id, link: { kind: "LINK_KIND_WALLET", externalId: "w-1" } })).customer;
    expect(linked.links).toHaveLength(1);
    expect(linked.links[0].kind).toBe("LINK_KIND_WALLET");
    expect(linked.links[0].externalId).toBe("w-1");
    expect(seconds(linked.links[0].linkTime)).toBeGreaterThan(0);
    expect(linked.etag).toBe("2");
    expect((await t.call("getCustomer", { id })).customer.links).toEqual(linked.links);

    // A second, different link is appended (oldest first).
    const two = (await t.call("linkCustomer", { id, link: { kind: "LINK_KIND_KYC_CASE", externalId: "w-1" } })).customer;
    expect(two.links.map((l: any) => [l.kind, l.externalId])).toEqual([
      ["LINK_KIND_WALLET", "w-1"],
      ["LINK_KIND_KYC_CASE", "w-1"],
    ]);

    let err = await t.fail("linkCustomer", { id, link: { kind: "LINK_KIND_WALLET", externalId: "w-1" } });
    expectError(err, grpc.status.ALREADY_EXISTS, "LINK_ALREADY_EXISTS");

    err = await t.fail("linkCustomer", { id, link: { kind: "LINK_KIND_UNSPECIFIED", externalId: "w-2" } });
    expectViolation(err, "link.kind");

    const other = await tenantCtx();
    err = await other.fail("linkCustomer", { id, link: { kind: "LINK_KIND_WALLET", externalId: "w-3" } });
    expectError(err, grpc.status.NOT_FOUND, "CUSTOMER_NOT_FOUND");
    err = await other.fail("unlinkCustomer", { id, kind: "LINK_KIND_WALLET", externalId: "w-1" });
    expectError(err, grpc.status.NOT_FOUND, "CUSTOMER_NOT_FOUND");

    const unlinked = (await t.call("unlinkCustomer", { id, kind: "LINK_KIND_WALLET", externalId: "w-1" })).customer;
    expect(unlinked.links.map((l: any) => [l.kind, l.externalId])).toEqual([["LINK_KIND_KYC_CASE", "w-1"]]);
    expect((await t.call("getCustomer", { id })).customer.links).toEqual(unlinked.links);

    err = await t.fail("unlinkCustomer", { id, kind: "LINK_KIND_WALLET", externalId: "w-1" });
    expectError(err, grpc.status.NOT_FOUND, "LINK_NOT_FOUND");

    expect(await eventTypes(t.tenant.id, id)).toEqual([
      "CUSTOMER_CREATED",
      "CUSTOMER_LINKED",
      "CUSTOMER_LINKED",
      "CUSTOMER_UNLINKED",
    ]);

    await t.call("closeCustomer", { id, reason: "STATUS_REASON_CUSTOMER_REQUEST" });
    err = await t.fail("linkCustomer", { id, link: { kind: "LINK_KIND_CARD", externalId: "c-1" } });
    expectError(err, grpc.status.FAILED_PRECONDITION, "CUSTOMER_CLOSED");
    expect((await t.call("getCustomer", { id })).customer.links).toHaveLength(1);
    expect(await eventTypes(t.tenant.id, id)).toHaveLength(5);
  });
});

// ---------------------------------------------------------------------------------------------

describe("ListCustomers", () => {
  interface Seeded {
    t: Ctx;
    all: any[]; // newest first, as the server should list them
    byName: Record<string, any>;
  }

  /** Six varied customers in a fresh tenant, with their final state. */
  async function seed(): Promise<Seeded> {
    const t = await tenantCtx();
    const s = randomUUID();
    const make = async (customer: object) => (await t.call("createCustomer", { customer })).customer;
    const byName: Record<string, any> = {};
    byName.pending = await make(minimalIndividual(`pending.${s}@example.com`));
    // The two that get activated are complete for their country (US).
    byName.active = await make(completeIndividual("US", { email: `active.${s}@example.com`, phoneNumber: "+447911123457" }));
    byName.biz = await make({ ...businessFull(s), email: `biz.${s}@example.com`, externalId: `crm-${s}` });
    byName.suspended = await make(completeIndividual("US", { email: `suspended.${s}@example.com`, phoneNumber: "+33612345679" }));
    byName.closed = await make(minimalIndividual(`closed.${s}@example.com`));
    byName.biz2 = await make({
      business: { legalName: "Difference Engines plc" },
      email: `biz2.${s}@example.com`,
      countryCode: "GB",
      phoneNumber: "+447911123458",
    });

    await markContactsVerified(server, t.tenant.id, byName.active.id);
    byName.active = (await t.call("activateCustomer", { id: byName.active.id })).customer;
    await markContactsVerified(server, t.tenant.id, byName.suspended.id);
    await t.call("activateCustomer", { id: byName.suspended.id });
    byName.suspended = (await t.call("suspendCustomer", { id: byName.suspended.id, reason: "STATUS_REASON_COMPLIANCE_REVIEW" })).customer;
    byName.closed = (await t.call("closeCustomer", { id: byName.closed.id, reason: "STATUS_REASON_CUSTOMER_REQUEST" })).customer;

    const all = Object.values(byName).sort(
      (a, b) => millis(b.createTime) - millis(a.createTime) || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0),
    );
    return { t, all, byName };
  }

  const ids = (list: any[]) => list.map((x) => x.id);

  it("lists the tenant's customers newest first, each filter returning exactly the matches", async () => {
    const { t, all, byName } = await seed();
    // Another tenant's customers never show up.
    const other = await tenantCtx();
    await other.call("createCustomer", { customer: minimalIndividual(byName.pending.email) });

    const list = async (req: object) => (await t.call("listCustomers", req)) as { customers: any[]; nextPageToken: string };

    const everything = await list({});
    expect(ids(everything.customers)).toEqual(ids(all));
    expect(everything.nextPageToken).toBe("");
    // The listed customers are the same as GetCustomer's.
    expect(everything.customers.find((x) => x.id === byName.biz.id)).toEqual(byName.biz);

    const pick = (pred: (x: any) => boolean) => ids(all.filter(pred));
    expect(ids((await list({ status: "CUSTOMER_STATUS_ACTIVE" })).customers)).toEqual([byName.active.id]);
    expect(ids((await list({ status: "CUSTOMER_STATUS_SUSPENDED" })).customers)).toEqual([byName.suspended.id]);
    expect(ids((await list({ status: "CUSTOMER_STATUS_CLOSED" })).customers)).toEqual([byName.closed.id]);
    expect(ids((await list({ status: "CUSTOMER_STATUS_PENDING" })).customers)).toEqual(
      pick((x) => x.status === "CUSTOMER_STATUS_PENDING"),
    );
    expect(pick((x) => x.status === "CUSTOMER_STATUS_PENDING")).toHaveLength(3);
    expect(ids((await list({ type: "CUSTOMER_TYPE_BUSINESS" })).customers)).toEqual(
      pick((x) => x.type === "CUSTOMER_TYPE_BUSINESS"),
    );
    expect(ids((await list({ type: "CUSTOMER_TYPE_INDIVIDUAL" })).customers)).toEqual(
      pick((x) => x.type === "CUSTOMER_TYPE_INDIVIDUAL"),
    );
    expect(pick((x) => x.type === "CUSTOMER_TYPE_INDIVIDUAL")).toHaveLength(4);
    expect(ids((await list({ type: "CUSTOMER_TYPE_BUSINESS", status: "CUSTOMER_STATUS_PENDING" })).customers)).toEqual(
      pick((x) => x.type === "CUSTOMER_TYPE_BUSINESS"),
    );
    expect(ids((await list({ email: byName.suspended.email.toUpperCase() })).customers)).toEqual([byName.suspended.id]);
    expect(ids((await list({ email: `  ${byName.closed.email}` })).customers)).toEqual([byName.closed.id]);
    expect(ids((await list({ email: `nobody.${randomUUID()}@example.com` })).customers)).toEqual([]);
    expect(ids((await list({ phoneNumber: "+447911123457" })).customers)).toEqual([byName.active.id]);
    expect(ids((await list({ externalId: byName.biz.externalId })).customers)).toEqual([byName.biz.id]);
    expect(ids((await list({ externalId: "no-such-id" })).customers)).toEqual([]);

    const pivot = all[3]; // the third oldest
    expect(ids((await list({ createdAfter: pivot.createTime })).customers)).toEqual(
      pick((x) => millis(x.createTime) >= millis(pivot.createTime)),
    );
    expect(ids((await list({ createdBefore: pivot.createTime })).customers)).toEqual(
      pick((x) => millis(x.createTime) < millis(pivot.createTime)),
    );
    expect(
      ids((await list({ createdAfter: all.at(-1).createTime, createdBefore: pivot.createTime })).customers),
    ).toEqual(pick((x) => millis(x.createTime) < millis(pivot.createTime)));
    const future = { seconds: String(Math.floor(Date.now() / 1000) + 3600), nanos: 0 };
    expect(ids((await list({ createdAfter: future })).customers)).toEqual([]);
  });

  it("page_size 2 walks every customer once, in order; tokens are bound to filters and tenant", async () => {
    const { t, all } = await seed();
    const seen: string[] = [];
    let token = "";
    let pages = 0;
    const tokens: string[] = [];
    do {
      const page = await t.call("listCustomers", { pageSize: 2, pageToken: token });
      expect(page.customers.length).toBeLessThanOrEqual(2);
      seen.push(...ids(page.customers));
      token = page.nextPageToken;
      if (token) tokens.push(token);
      pages++;
    } while (token !== "" && pages < 10);
    expect(token).toBe("");
    expect(pages).toBe(3);
    expect(seen).toEqual(ids(all));
    expect(new Set(seen).size).toBe(all.length);

    // The same token with another filter.
    let err = await t.fail("listCustomers", { pageSize: 2, pageToken: tokens[0], status: "CUSTOMER_STATUS_PENDING" });
    expectError(err, grpc.status.INVALID_ARGUMENT, "INVALID_PAGE_TOKEN");
    expect(details(err).violations.map((v) => v.field)).toContain("page_token");
    // The same token with the same (empty) filter works again.
    const again = await t.call("listCustomers", { pageSize: 2, pageToken: tokens[0] });
    expect(ids(again.customers)).toEqual(ids(all).slice(2, 4));

    // Another tenant's token.
    const other = await tenantCtx();
    err = await other.fail("listCustomers", { pageSize: 2, pageToken: tokens[0] });
    expectError(err, grpc.status.INVALID_ARGUMENT, "INVALID_PAGE_TOKEN");

    // Garbage.
    err = await t.fail("listCustomers", { pageToken: "not-a-token" });
    expectError(err, grpc.status.INVALID_ARGUMENT, "INVALID_PAGE_TOKEN");

    err = await t.fail("listCustomers", { pageSize: -1 });
    expectViolation(err, "page_size");
    err = await t.fail("listCustomers", { pageSize: 501 });
    expectViolation(err, "page_size");
  });

  it("a filtered walk with page_size 1 stays within the filter", async () => {
    const { t, all } = await seed();
    const pending = ids(all.filter((x) => x.status === "CUSTOMER_STATUS_PENDING"));
    const seen: string[] = [];
    let token = "";
    for (let i = 0; i < 10; i++) {
      const page = await t.call("listCustomers", { pageSize: 1, pageToken: token, status: "CUSTOMER_STATUS_PENDING" });
      seen.push(...ids(page.customers));
      token = page.nextPageToken;
      if (token === "") break;
    }
    expect(token).toBe("");
    expect(seen).toEqual(pending);
  });
});

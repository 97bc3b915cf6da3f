// Tenant settings and UpdateTenant (acceptance: "A B2C-only tenant creating a business →
// PERMISSION_DENIED"; "A tenant operating in {GB, DE} creating a US customer →
// FAILED_PRECONDITION COUNTRY_NOT_ENABLED"; "Changing a tenant's required fields changes
// missing_requirements of existing customers on their next read, with no migration"; UpdateTenant
// field mask, etag and validation). Tenants are created and changed with the admin token over
// grpc-js; customers with the tenant's API key. Every test makes its own tenant.
import { randomUUID } from "node:crypto";
import { getExampleNumber, type CountryCode } from "libphonenumber-js/max";
import examples from "libphonenumber-js/mobile/examples";
import { describe, expect, it, vi } from "vitest";
import { bearer, markContactsVerified as markVerified, sql, startServer, type TestServer } from "../support/app.js";
import { withServer } from "../support/file-server.js";
import { details, grpc, grpcClients, metadata, unary, unaryError, preconditionFailures } from "../support/grpc.js";

const DOMAIN = "customerms.finhub";
const BOTH = ["CHANNEL_B2C", "CHANNEL_B2B"];

let server: TestServer;
let c: ReturnType<typeof grpcClients>;

withServer({}, (s, clients) => {
  server = s;
  c = clients;
});

// ---------------------------------------------------------------------------------------------
// Helpers

function expectError(err: grpc.ServiceError, code: number, reason: string): ReturnType<typeof details> {
  const d = details(err);
  expect({ code: err.code, reason: d.errorInfo?.reason, domain: d.errorInfo?.domain }).toEqual({ code, reason, domain: DOMAIN });
  return d;
}

const admin = () => metadata(bearer(server.adminToken));
const tenantCall = <T = any>(method: string, request: object) => unary<T>(c.tenants, method, request, admin());
const tenantFail = (method: string, request: object, md = admin()) => unaryError(c.tenants, method, request, md);

interface Tenant {
  id: string;
  apiKey: string;
  tenant: any;
  call<T = any>(method: string, request: object): Promise<T>;
  fail(method: string, request: object): Promise<grpc.ServiceError>;
}

/** A fresh tenant created with the admin token, with `settings` (channels, countries, ...). */
async function newTenant(settings: Record<string, unknown> = {}): Promise<Tenant> {
  const res = await tenantCall("createTenant", { tenant: { displayName: `settings ${randomUUID()}`, ...settings } });
  const md = metadata(bearer(res.apiKey));
  return {
    id: res.tenant.id,
    apiKey: res.apiKey,
    tenant: res.tenant,
    call: (method, request) => unary(c.customers, method, request, md),
    fail: (method, request) => unaryError(c.customers, method, request, md),
  };
}

/** UpdateTenant with the admin token. The tenant's current display name is sent along (see the
 * "display_name" test in UpdateTenant for why a mask alone is not enough today). */
async function updateTenant(t: Tenant, fields: Record<string, unknown>, paths?: string[]): Promise<any> {
  return (await tenantCall("updateTenant", updateRequest(t, fields, paths))).tenant;
}
function updateRequest(t: Tenant, fields: Record<string, unknown>, paths?: string[]): object {
  return { tenant: { id: t.id, displayName: t.tenant.displayName, ...fields }, ...(paths ? { updateMask: { paths } } : {}) };
}

async function getTenant(id: string): Promise<any> {
  return (await tenantCall("getTenant", { id })).tenant;
}

async function customerCount(tenantId: string): Promise<number> {
  const [row] = await sql<{ n: number }>(server.databaseUrl, "select count(*)::int as n from customers where tenant_id = $1", [tenantId]);
  return row!.n;
}

const phone = (country: string) => getExampleNumber(country as CountryCode, examples)!.number;

const ADDRESS = { GB: { line1: "10 Downing Street", city: "London", postalCode: "SW1A 2AA", countryCode: "GB" } } as const;

/** A GB individual with everything GB requires (occupation deliberately empty). */
function gbIndividual(): any {
  return {
    individual: { givenName: "Ada", familyName: "Lovelace", dateOfBirth: { year: 1985, month: 12, day: 10 }, taxResidencyCountry: "GB" },
    email: `ada.${randomUUID()}@example.com`,
    phoneNumber: phone("GB"),
    countryCode: "GB",
    address: ADDRESS.GB,
  };
}

/** A GB business with everything GB requires. */
function gbBusiness(): any {
  return {
    business: {
      legalName: "Difference Engines Ltd",
      registrationNumber: "00445790",
      taxId: { type: "GB_VAT", value: "GB 999 9999 73" },
      incorporationDate: { year: 2012, month: 4, day: 2 },
      representatives: [
        { givenName: "Grace", familyName: "Hopper", roles: ["REPRESENTATIVE_ROLE_DIRECTOR", "REPRESENTATIVE_ROLE_BENEFICIAL_OWNER"], ownershipBasisPoints: 10000 },
      ],
    },
    email: `ops.${randomUUID()}@example.com`,
    phoneNumber: "+447400123457", // not the individual's: phone numbers are unique per tenant
    countryCode: "GB",
    address: ADDRESS.GB,
  };
}

function minimal(kind: "individual" | "business", country = "GB"): any {
  return {
    ...(kind === "individual" ? { individual: { givenName: "Ann", familyName: "Lee" } } : { business: { legalName: "Lee Holdings Ltd" } }),
    email: `${kind}.${randomUUID()}@example.com`,
    countryCode: country,
  };
}

const markContactsVerified = (tenantId: string, customerId: string) => markVerified(server, tenantId, customerId);

/** Reads the customer until `check` passes (the tenant profile is cached ~2 s on other replicas;
 * bounded to 5 s). */
async function eventually(t: Tenant, id: string, check: (customer: any) => void): Promise<any> {
  return vi.waitFor(
    async () => {
      const customer = (await t.call("getCustomer", { id })).customer;
      check(customer);
      return customer;
    },
    { timeout: 5_000, interval: 100 },
  );
}

// ---------------------------------------------------------------------------------------------
// Channels

describe("channels", () => {
  it("a B2C-only tenant cannot create a business (PERMISSION_DENIED CHANNEL_NOT_ENABLED) but can create an individual", async () => {
    const t = await newTenant({ channels: ["CHANNEL_B2C"] });
    expect(t.tenant.channels).toEqual(["CHANNEL_B2C"]);
    const err = await t.fail("createCustomer", { customer: minimal("business") });
    const d = expectError(err, grpc.status.PERMISSION_DENIED, "CHANNEL_NOT_ENABLED");
    expect(d.errorInfo?.metadata).toEqual({ channel: "B2B" });
    expect(await customerCount(t.id)).toBe(0);

    const ok = (await t.call("createCustomer", { customer: minimal("individual") })).customer;
    expect(ok.type).toBe("CUSTOMER_TYPE_INDIVIDUAL");
    expect(await customerCount(t.id)).toBe(1);
  });

  it("a B2B-only tenant cannot create an individual (PERMISSION_DENIED CHANNEL_NOT_ENABLED) but can create a business", async () => {
    const t = await newTenant({ channels: ["CHANNEL_B2B"] });
    const err = await t.fail("createCustomer", { customer: minimal("individual") });
    const d = expectError(err, grpc.status.PERMISSION_DENIED, "CHANNEL_NOT_ENABLED");
    expect(d.errorInfo?.metadata).toEqual({ channel: "B2C" });
    expect(await customerCount(t.id)).toBe(0);

    const ok = (await t.call("createCustomer", { customer: minimal("business") })).customer;
    expect(ok.type).toBe("CUSTOMER_TYPE_BUSINESS");
    expect(await customerCount(t.id)).toBe(1);
  });

  it("a default tenant (channels empty on create) shows both channels and creates both types", async () => {
    const t = await newTenant();
    expect(t.tenant.channels).toEqual(BOTH);
    expect((await getTenant(t.id)).channels).toEqual(BOTH);
    expect((await t.call("createCustomer", { customer: minimal("individual") })).customer.type).toBe("CUSTOMER_TYPE_INDIVIDUAL");
    expect((await t.call("createCustomer", { customer: minimal("business") })).customer.type).toBe("CUSTOMER_TYPE_BUSINESS");
    expect(await customerCount(t.id)).toBe(2);
  });

  it("narrowing the channels with UpdateTenant applies to the next create; an empty list restores both", async () => {
    const t = await newTenant();
    const narrowed = await updateTenant(t, { channels: ["CHANNEL_B2C"] }, ["channels"]);
    expect(narrowed.channels).toEqual(["CHANNEL_B2C"]);
    const err = await t.fail("createCustomer", { customer: minimal("business") });
    expectError(err, grpc.status.PERMISSION_DENIED, "CHANNEL_NOT_ENABLED");

    const restored = await updateTenant(t, { channels: [] }, ["channels"]);
    expect(restored.channels).toEqual(BOTH);
    expect((await t.call("createCustomer", { customer: minimal("business") })).customer.type).toBe("CUSTOMER_TYPE_BUSINESS");
  });
});

// ---------------------------------------------------------------------------------------------
// Countries of operation

describe("countries of operation", () => {
  it("a tenant operating in {GB, DE}: a US customer → FAILED_PRECONDITION COUNTRY_NOT_ENABLED; GB and DE work", async () => {
    const t = await newTenant({ countriesOfOperation: ["GB", "DE"] });
    expect((await getTenant(t.id)).countriesOfOperation).toEqual(["GB", "DE"]);

    const err = await t.fail("createCustomer", { customer: minimal("individual", "US") });
    const d = expectError(err, grpc.status.FAILED_PRECONDITION, "COUNTRY_NOT_ENABLED");
    expect(d.errorInfo?.metadata).toEqual({ country_code: "US" });
    expect(await customerCount(t.id)).toBe(0);

    expect((await t.call("createCustomer", { customer: minimal("individual", "GB") })).customer.countryCode).toBe("GB");
    expect((await t.call("createCustomer", { customer: minimal("business", "DE") })).customer.countryCode).toBe("DE");
    expect(await customerCount(t.id)).toBe(2);
  });

  it("UpdateCustomer moving a customer to US → COUNTRY_NOT_ENABLED, nothing changed; moving to DE works", async () => {
    const t = await newTenant({ countriesOfOperation: ["GB", "DE"] });
    const customer = (await t.call("createCustomer", { customer: minimal("individual", "GB") })).customer;

    const err = await t.fail("updateCustomer", { customer: { id: customer.id, countryCode: "US" }, updateMask: { paths: ["country_code"] } });
    const d = expectError(err, grpc.status.FAILED_PRECONDITION, "COUNTRY_NOT_ENABLED");
    expect(d.errorInfo?.metadata).toEqual({ country_code: "US" });
    const after = (await t.call("getCustomer", { id: customer.id })).customer;
    expect({ country: after.countryCode, etag: after.etag }).toEqual({ country: "GB", etag: customer.etag });

    const moved = (await t.call("updateCustomer", { customer: { id: customer.id, countryCode: "DE" }, updateMask: { paths: ["country_code"] } })).customer;
    expect(moved.countryCode).toBe("DE");
  });

  it("an empty list means every country", async () => {
    const t = await newTenant();
    expect(t.tenant.countriesOfOperation).toEqual([]);
    expect((await t.call("createCustomer", { customer: minimal("individual", "US") })).customer.countryCode).toBe("US");
  });
});

// ---------------------------------------------------------------------------------------------
// Required fields: existing customers change on their next read

describe("tenant required fields", () => {
  it("apply to existing customers on their next read (FIELD_REQUIRED_BY_TENANT), block activation, and clear when removed", async () => {
    const t = await newTenant();
    const created = (await t.call("createCustomer", { customer: gbIndividual() })).customer;
    const business = (await t.call("createCustomer", { customer: gbBusiness() })).customer;
    await markContactsVerified(t.id, created.id);
    await markContactsVerified(t.id, business.id);
    const before = await eventually(t, created.id, (cu) => expect(cu.missingRequirements).toEqual([]));

    const updated = await updateTenant(t, { requiredFields: ["individual.occupation"] }, ["required_fields"]);
    expect(updated.requiredFields).toEqual(["individual.occupation"]);

    // No migration: the stored customer is not written, its next read shows the requirement.
    const now = await eventually(t, created.id, (cu) => expect(cu.missingRequirements).toEqual(["individual.occupation"]));
    expect(now.etag).toBe(before.etag);
    const r = await t.call("getCustomerRequirements", { id: created.id });
    expect(r.currentlyDue).toEqual([{ field: "individual.occupation", reason: "FIELD_REQUIRED_BY_TENANT", description: expect.any(String) }]);
    // A business is not concerned by an individual.* path.
    expect((await t.call("getCustomer", { id: business.id })).customer.missingRequirements).toEqual([]);

    const err = await t.fail("activateCustomer", { id: created.id });
    expectError(err, grpc.status.FAILED_PRECONDITION, "ACTIVATION_REQUIREMENTS_NOT_MET");
    expect(preconditionFailures(err).map((v) => [v.type, v.subject])).toEqual([["FIELD_REQUIRED_BY_TENANT", "individual.occupation"]]);

    await updateTenant(t, { requiredFields: [] }, ["required_fields"]);
    await eventually(t, created.id, (cu) => expect(cu.missingRequirements).toEqual([]));
    expect((await t.call("getCustomerRequirements", { id: created.id })).currentlyDue).toEqual([]);
    const active = (await t.call("activateCustomer", { id: created.id })).customer;
    expect(active.status).toBe("CUSTOMER_STATUS_ACTIVE");
  });

  it("reach another replica (whose tenant cache is warm) within its cache TTL: polled for at most 5 s", async () => {
    const t = await newTenant();
    const replica = await startServer();
    const rc = grpcClients(replica.port);
    try {
      const md = metadata(bearer(t.apiKey));
      const created = (await t.call("createCustomer", { customer: gbIndividual() })).customer;
      await markContactsVerified(t.id, created.id);
      const onReplica = async () => (await unary(rc.customers, "getCustomer", { id: created.id }, md)).customer;
      expect((await onReplica()).missingRequirements).toEqual([]); // warms the replica's tenant cache

      await updateTenant(t, { requiredFields: ["individual.occupation"] }, ["required_fields"]);
      const seen = await vi.waitFor(
        async () => {
          const cu = await onReplica();
          expect(cu.missingRequirements).toEqual(["individual.occupation"]);
          return cu;
        },
        { timeout: 5_000, interval: 100 },
      );
      expect(seen.etag).toBe(created.etag);
      const err = await unaryError(rc.customers, "activateCustomer", { id: created.id }, md);
      expectError(err, grpc.status.FAILED_PRECONDITION, "ACTIVATION_REQUIREMENTS_NOT_MET");
      expect(preconditionFailures(err).map((v) => [v.type, v.subject])).toEqual([["FIELD_REQUIRED_BY_TENANT", "individual.occupation"]]);
    } finally {
      rc.close();
      await replica.close();
    }
  });

  it("filling the tenant-required field satisfies it", async () => {
    const t = await newTenant({ requiredFields: ["individual.occupation", "external_id"] });
    const created = (await t.call("createCustomer", { customer: gbIndividual() })).customer;
    await markContactsVerified(t.id, created.id);
    await eventually(t, created.id, (cu) => expect(cu.missingRequirements).toEqual(["external_id", "individual.occupation"]));
    // ListCustomers reads the tenant's settings once per page and shows each customer exactly as
    // GetCustomer does: the unverified second customer has its contact requirements too, a
    // closed one none.
    // (No phone: the example number is the same for every customer of the tenant.)
    const other = (await t.call("createCustomer", { customer: { ...gbIndividual(), phoneNumber: "" } })).customer;
    const closed = (await t.call("createCustomer", { customer: { ...gbIndividual(), phoneNumber: "" } })).customer;
    await t.call("closeCustomer", { id: closed.id, reason: "STATUS_REASON_CUSTOMER_REQUEST" });
    const listed = (await t.call("listCustomers", { pageSize: 10 })).customers as Array<{ id: string; missingRequirements: string[] }>;
    const missing = Object.fromEntries(listed.map((c) => [c.id, c.missingRequirements]));
    expect(missing).toEqual({
      [created.id]: ["external_id", "individual.occupation"],
      [other.id]: (await t.call("getCustomer", { id: other.id })).customer.missingRequirements,
      [closed.id]: [],
    });
    expect(missing[other.id]).toEqual(expect.arrayContaining(["email", "external_id", "individual.occupation", "phone_number"]));
    const filled = (
      await t.call("updateCustomer", {
        customer: { id: created.id, externalId: `crm-${randomUUID()}`, individual: { occupation: "Analyst" } },
        updateMask: { paths: ["external_id", "individual.occupation"] },
      })
    ).customer;
    expect(filled.missingRequirements).toEqual([]);
    expect((await t.call("activateCustomer", { id: created.id })).customer.status).toBe("CUSTOMER_STATUS_ACTIVE");
  });
});

// ---------------------------------------------------------------------------------------------
// UpdateTenant

describe("UpdateTenant", () => {
  it("channels, countries, required fields and CORS origins round-trip through GetTenant", async () => {
    const t = await newTenant();
    const want = {
      channels: ["CHANNEL_B2B"],
      countriesOfOperation: ["GB", "DE", "FR"],
      requiredFields: ["address.city", "business.website", "individual.national_id"],
      corsOrigins: ["https://app.example.com", "http://localhost:3000"],
    };
    const res = await updateTenant(t, want, ["channels", "countries_of_operation", "required_fields", "cors_origins"]);
    expect(res).toMatchObject(want);
    const read = await getTenant(t.id);
    expect(read).toMatchObject({ ...want, displayName: t.tenant.displayName });
    expect(read).toEqual(res);
  });

  it("settings given on CreateTenant round-trip too", async () => {
    const want = { channels: ["CHANNEL_B2C"], countriesOfOperation: ["IN"], requiredFields: ["individual.occupation"], corsOrigins: ["https://in.example.com"] };
    const t = await newTenant(want);
    expect(t.tenant).toMatchObject(want);
    expect(await getTenant(t.id)).toMatchObject(want);
  });

  it("without a mask changes only the populated fields", async () => {
    const t = await newTenant({ countriesOfOperation: ["GB"], requiredFields: ["individual.occupation"] });
    const res = await updateTenant(t, { corsOrigins: ["https://app.example.com"] });
    expect(res).toMatchObject({
      displayName: t.tenant.displayName,
      channels: BOTH,
      countriesOfOperation: ["GB"],
      requiredFields: ["individual.occupation"],
      corsOrigins: ["https://app.example.com"],
    });
  });

  // AIP-134 (the contract of UpdateTenant): only the fields the mask names are read, and an absent
  // mask means "the populated fields". A settings-only update must not have to repeat the
  // display name. KNOWN BUG (kept failing on purpose): protovalidate checks the whole Tenant of
  // the request, so tenant.display_name "value is required" refuses it.
  it("a masked (or mask-less) settings update need not repeat display_name, and leaves it unchanged", async () => {
    const t = await newTenant();
    const masked = (
      await tenantCall("updateTenant", { tenant: { id: t.id, requiredFields: ["individual.occupation"] }, updateMask: { paths: ["required_fields"] } })
    ).tenant;
    expect(masked).toMatchObject({ displayName: t.tenant.displayName, requiredFields: ["individual.occupation"], etag: "2" });
    const populated = (await tenantCall("updateTenant", { tenant: { id: t.id, corsOrigins: ["https://app.example.com"] } })).tenant;
    expect(populated).toMatchObject({
      displayName: t.tenant.displayName,
      requiredFields: ["individual.occupation"],
      corsOrigins: ["https://app.example.com"],
      etag: "3",
    });
  });

  it("display_name in the mask but empty → INVALID_ARGUMENT on tenant.display_name", async () => {
    const t = await newTenant();
    const err = await tenantFail("updateTenant", { tenant: { id: t.id, displayName: "" }, updateMask: { paths: ["display_name"] } });
    const d = expectError(err, grpc.status.INVALID_ARGUMENT, "INVALID_ARGUMENT");
    expect(d.violations.map((v) => v.field)).toEqual(["tenant.display_name"]);
    expect((await getTenant(t.id)).displayName).toBe(t.tenant.displayName);
  });

  it("etag: a current etag is accepted and the result has etag + 1; a stale one → ABORTED ETAG_MISMATCH, nothing changed", async () => {
    const t = await newTenant();
    expect(t.tenant.etag).toBe("1");
    const first = await updateTenant(t, { etag: "1", countriesOfOperation: ["GB"] }, ["countries_of_operation"]);
    expect(first.etag).toBe("2");
    expect(first.countriesOfOperation).toEqual(["GB"]);

    const err = await tenantFail("updateTenant", updateRequest(t, { etag: "1", countriesOfOperation: ["US"] }, ["countries_of_operation"]));
    const d = expectError(err, grpc.status.ABORTED, "ETAG_MISMATCH");
    expect(d.errorInfo?.metadata).toEqual({ current_etag: "2" });
    const read = await getTenant(t.id);
    expect({ etag: read.etag, countries: read.countriesOfOperation }).toEqual({ etag: "2", countries: ["GB"] });

    // No etag: unconditional, and still one more.
    const second = await updateTenant(t, { countriesOfOperation: ["DE"] }, ["countries_of_operation"]);
    expect(second.etag).toBe("3");
  });

  it("an unknown mask path → INVALID_ARGUMENT INVALID_UPDATE_MASK on update_mask", async () => {
    const t = await newTenant();
    for (const path of ["id", "etag", "tenant_id", "settings"]) {
      const err = await tenantFail("updateTenant", updateRequest(t, { countriesOfOperation: ["GB"] }, ["countries_of_operation", path]));
      const d = expectError(err, grpc.status.INVALID_ARGUMENT, "INVALID_UPDATE_MASK");
      expect(d.violations.map((v) => v.field), path).toEqual(["update_mask"]);
      expect(d.violations[0]!.message).toContain(path);
    }
    expect((await getTenant(t.id)).etag).toBe("1");
  });

  it("a required field that is not a path of Customer → INVALID_ARGUMENT naming tenant.required_fields.<index>", async () => {
    const t = await newTenant();
    let err = await tenantFail("updateTenant", updateRequest(t, { requiredFields: ["nope.x"] }, ["required_fields"]));
    let d = expectError(err, grpc.status.INVALID_ARGUMENT, "INVALID_ARGUMENT");
    expect(d.violations.map((v) => v.field)).toEqual(["tenant.required_fields.0"]);
    expect(d.violations[0]!.message).toContain("nope.x");

    err = await tenantFail("updateTenant", updateRequest(t, { requiredFields: ["individual.occupation", "address.nope", "status"] }, ["required_fields"]));
    d = expectError(err, grpc.status.INVALID_ARGUMENT, "INVALID_ARGUMENT");
    expect(d.violations.map((v) => v.field)).toEqual(["tenant.required_fields.1", "tenant.required_fields.2"]);

    // Not even the syntax of a path.
    err = await tenantFail("updateTenant", updateRequest(t, { requiredFields: ["Individual.Occupation"] }, ["required_fields"]));
    d = expectError(err, grpc.status.INVALID_ARGUMENT, "INVALID_ARGUMENT");
    expect(d.violations.map((v) => v.field)).toEqual(["tenant.required_fields.0"]);

    const read = await getTenant(t.id);
    expect({ etag: read.etag, requiredFields: read.requiredFields }).toEqual({ etag: "1", requiredFields: [] });
  });

  it("countries_of_operation must be upper-case alpha-2: \"gb\" → INVALID_ARGUMENT", async () => {
    const t = await newTenant();
    const err = await tenantFail("updateTenant", updateRequest(t, { countriesOfOperation: ["GB", "gb"] }, ["countries_of_operation"]));
    const d = expectError(err, grpc.status.INVALID_ARGUMENT, "INVALID_ARGUMENT");
    expect(d.violations.map((v) => v.field)).toEqual(["tenant.countries_of_operation.1"]);
    expect((await getTenant(t.id)).countriesOfOperation).toEqual([]);
  });

  it("verification_policy.code_ttl of 60 s (below 2 min) → INVALID_ARGUMENT; 5 min is accepted", async () => {
    const t = await newTenant();
    const err = await tenantFail("updateTenant", updateRequest(t, { verificationPolicy: { codeTtl: { seconds: 60 } } }, ["verification_policy"]));
    const d = expectError(err, grpc.status.INVALID_ARGUMENT, "INVALID_ARGUMENT");
    expect(d.violations.map((v) => v.field)).toEqual(["tenant.verification_policy.code_ttl"]);
    expect(Number((await getTenant(t.id)).verificationPolicy.codeTtl.seconds)).toBe(600);

    const ok = await updateTenant(t, { verificationPolicy: { codeTtl: { seconds: 300 } } }, ["verification_policy"]);
    expect(Number(ok.verificationPolicy.codeTtl.seconds)).toBe(300);
  });

  it("an unknown tenant → NOT_FOUND TENANT_NOT_FOUND", async () => {
    const err = await tenantFail("updateTenant", {
      tenant: { id: randomUUID(), displayName: "nobody", countriesOfOperation: ["GB"] },
      updateMask: { paths: ["countries_of_operation"] },
    });
    expectError(err, grpc.status.NOT_FOUND, "TENANT_NOT_FOUND");
  });

  it("a tenant API key → PERMISSION_DENIED ADMIN_ONLY, nothing changed", async () => {
    const t = await newTenant();
    const err = await tenantFail(
      "updateTenant",
      updateRequest(t, { countriesOfOperation: ["GB"] }, ["countries_of_operation"]),
      metadata(bearer(t.apiKey)),
    );
    expectError(err, grpc.status.PERMISSION_DENIED, "ADMIN_ONLY");
    const read = await getTenant(t.id);
    expect({ etag: read.etag, countries: read.countriesOfOperation }).toEqual({ etag: "1", countries: [] });
  });
});

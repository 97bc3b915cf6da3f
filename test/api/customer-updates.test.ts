// UpdateCustomer (AIP-134): field masks, the absent mask, identifiers and representatives kept
// across updates, verified flags, etags and races, events, request_id. grpc-js client from proto/.
import { randomUUID } from "node:crypto";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import protobuf from "protobufjs";
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
import { validIdentifier } from "../support/fixtures.js";
import { details, grpc, grpcClients, metadata, unary, unaryError } from "../support/grpc.js";

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

const root = join(dirname(fileURLToPath(import.meta.url)), "../..");
const validateRoot = protobuf.loadSync(join(root, "proto/vendor/buf/validate/validate.proto"));
const require = createRequire(import.meta.url);
const statusRoot = protobuf.loadSync(
  join(dirname(require.resolve("google-proto-files/package.json")), "google/rpc/status.proto"),
);

/** [path, rule id] of each violation, the path rendered from the FieldPath whatever its encoding:
 * a subscript (index) as "[i]", and a numeric or "name[i]" field name normalised to the same. */
function violationPaths(err: grpc.ServiceError): Array<[string, string]> {
  const bin = err.metadata?.get("grpc-status-details-bin")[0];
  if (!bin) return [];
  const Status = statusRoot.lookupType("google.rpc.Status");
  const Violations = validateRoot.lookupType("buf.validate.Violations");
  const status = Status.toObject(Status.decode(bin as Buffer), { defaults: true }) as { details: any[] };
  const out: Array<[string, string]> = [];
  for (const any of status.details) {
    if (!String(any.type_url ?? any.typeUrl).endsWith("/buf.validate.Violations")) continue;
    const v = Violations.toObject(Violations.decode(any.value), { longs: String, oneofs: true }) as any;
    for (const x of v.violations ?? []) {
      const path = (x.field?.elements ?? [])
        .map((e: any) => `${e.fieldName}${e.index !== undefined ? `[${e.index}]` : ""}`)
        .join(".")
        .replace(/\.(\d+)(?=\.|$)/g, "[$1]");
      out.push([path, x.ruleId]);
    }
  }
  return out;
}

function expectError(err: grpc.ServiceError, code: number, reason: string): void {
  const info = details(err).errorInfo;
  expect({ code: err.code, reason: info?.reason, domain: info?.domain }).toEqual({ code, reason, domain: DOMAIN });
}

function expectViolation(err: grpc.ServiceError, field: string, reason = "INVALID_ARGUMENT"): void {
  expectError(err, grpc.status.INVALID_ARGUMENT, reason);
  expect(details(err).violations.map((v) => v.field)).toContain(field);
}

interface Ctx {
  tenant: TestTenant;
  call<T = any>(method: string, request: object): Promise<T>;
  fail(method: string, request: object): Promise<grpc.ServiceError>;
  get(id: string): Promise<any>;
  update(customer: object, paths?: string[], extra?: object): Promise<any>;
  updateError(customer: object, paths?: string[], extra?: object): Promise<grpc.ServiceError>;
}

function updateRequest(customer: object, paths?: string[], extra: object = {}) {
  return { customer, ...(paths ? { updateMask: { paths } } : {}), ...extra };
}

async function tenantCtx(): Promise<Ctx> {
  const tenant = await createTenant(server);
  const md = metadata(bearer(tenant.apiKey));
  const call = <T = any>(method: string, request: object) => unary<T>(c.customers, method, request, md);
  const fail = (method: string, request: object) => unaryError(c.customers, method, request, md);
  return {
    tenant,
    call,
    fail,
    get: async (id) => (await call("getCustomer", { id })).customer,
    update: async (customer, paths, extra) => (await call("updateCustomer", updateRequest(customer, paths, extra))).customer,
    updateError: (customer, paths, extra) => fail("updateCustomer", updateRequest(customer, paths, extra)),
  };
}

const address = () => ({
  line1: "12 St James's Square",
  line2: "Flat 3",
  city: "London",
  region: "Greater London",
  postalCode: "SW1Y 4JH",
  countryCode: "GB",
});

function individualBody(s = randomUUID()) {
  return {
    individual: {
      givenName: "Ada",
      middleName: "Augusta",
      familyName: "Lovelace",
      dateOfBirth: { year: 1985, month: 12, day: 10 },
      nationality: "GB",
      taxResidencyCountry: "GB",
      nationalId: { type: "GB_NINO", value: validIdentifier("GB_NINO") }, // AB 12 34 56 C
      occupation: "Mathematician",
    },
    email: `ada.${s}@example.com`,
    phoneNumber: "+447911123456",
    countryCode: "GB",
    address: address(),
    externalId: `ext-${s}`,
    metadata: { segment: "retail", source: "web" },
  };
}

function businessBody(s = randomUUID()) {
  return {
    business: {
      legalName: "Analytical Engines Ltd",
      entityType: "BUSINESS_ENTITY_TYPE_LLC",
      taxId: { type: "GB_VAT", value: validIdentifier("GB_VAT") }, // GB 999 9999 73
      website: "https://engines.example.com",
      representatives: [
        { givenName: "Charles", familyName: "Babbage", roles: ["REPRESENTATIVE_ROLE_DIRECTOR"], ownershipBasisPoints: 6000 },
        { givenName: "Mary", familyName: "Somerville", roles: ["REPRESENTATIVE_ROLE_BENEFICIAL_OWNER"], ownershipBasisPoints: 3000 },
      ],
    },
    email: `office.${s}@example.com`,
    phoneNumber: "+14155552671",
    countryCode: "GB",
  };
}

async function createIndividual(t: Ctx, body: object = individualBody()): Promise<any> {
  return (await t.call("createCustomer", { customer: body })).customer;
}

/** A read-modify-write body: the customer as read, output-only fields included (they are ignored). */
const copy = <T>(x: T): T => structuredClone(x);

async function eventRows(tenantId: string, customerId: string) {
  return sql<{ type: string; changed_fields: string[]; raw: string }>(
    server.databaseUrl,
    "select type, changed_fields, row_to_json(e)::text as raw from customer_events e where tenant_id = $1 and customer_id = $2 order by time, id",
    [tenantId, customerId],
  );
}

async function storedProfile(tenantId: string, id: string): Promise<any> {
  const rows = await sql<{ profile: any }>(server.databaseUrl, "select profile from customers where tenant_id = $1 and id = $2", [
    tenantId,
    id,
  ]);
  return rows[0]!.profile;
}

/** The customer minus what any write changes (etag, update_time) and the given keys. */
function stable(cust: any, ...omit: string[]) {
  const { etag: _e, updateTime: _u, ...rest } = cust;
  for (const k of omit) delete rest[k];
  return rest;
}

// ---------------------------------------------------------------------------------------------

describe("update_mask naming fields", () => {
  it('["email"] changes only the email, even when the body carries other changes', async () => {
    const t = await tenantCtx();
    const before = await createIndividual(t);
    const body = copy(before);
    body.email = `new.${randomUUID()}@example.com`;
    body.individual.familyName = "Byron";
    body.phoneNumber = "+33612345678";
    body.metadata = { other: "x" };
    const after = await t.update(body, ["email"]);
    expect(after.email).toBe(body.email);
    expect(after.etag).toBe("2");
    expect(stable(after, "email")).toEqual(stable(before, "email"));
    expect(await t.get(before.id)).toEqual(after);
  });

  it('["email"] with only {id, email} in the body (a partial customer) changes only the email', async () => {
    const t = await tenantCtx();
    const before = await createIndividual(t);
    const email = `partial.${randomUUID()}@example.com`;
    const after = await t.update({ id: before.id, email }, ["email"]);
    expect(after.email).toBe(email);
    expect(stable(after, "email")).toEqual(stable(before, "email"));
    // Fields outside the mask are ignored, even malformed ones; inside it they are checked.
    const email2 = `partial2.${randomUUID()}@example.com`;
    const after2 = await t.update({ id: before.id, email: email2, countryCode: "gb" }, ["email"]);
    expect([after2.email, after2.countryCode]).toEqual([email2, "GB"]);
    expectViolation(await t.updateError({ id: before.id, countryCode: "gb" }, ["country_code"]), "customer.country_code");
    expect((await t.get(before.id)).countryCode).toBe("GB");
  });

  it("changing a verified email clears email_verified only; changing the phone clears phone_verified only", async () => {
    const t = await tenantCtx();
    const created = await createIndividual(t);
    await markContactsVerified(server, t.tenant.id, created.id);
    const verified = await t.get(created.id);
    expect([verified.emailVerified, verified.phoneVerified]).toEqual([true, true]);

    const body = copy(verified);
    body.email = `changed.${randomUUID()}@example.com`;
    const emailChanged = await t.update(body, ["email"]);
    expect([emailChanged.emailVerified, emailChanged.phoneVerified]).toEqual([false, true]);

    await markContactsVerified(server, t.tenant.id, created.id);
    const body2 = copy(await t.get(created.id));
    body2.phoneNumber = "+4915123456789";
    const phoneChanged = await t.update(body2, ["phone_number"]);
    expect(phoneChanged.phoneNumber).toBe("+4915123456789");
    expect([phoneChanged.emailVerified, phoneChanged.phoneVerified]).toEqual([true, false]);
  });

  it("setting the email to the same address in another case keeps email_verified (and changes nothing)", async () => {
    const t = await tenantCtx();
    const created = await createIndividual(t);
    await markContactsVerified(server, t.tenant.id, created.id);
    const verified = await t.get(created.id);
    const body = copy(verified);
    body.email = verified.email.toUpperCase();
    const after = await t.update(body, ["email"]);
    expect(after.email).toBe(verified.email);
    expect(after.emailVerified).toBe(true);
    expect(after.phoneVerified).toBe(true);
    expect(after.etag).toBe(verified.etag);
  });

  it('["address.city"] changes the city only; ["metadata"] replaces the whole map', async () => {
    const t = await tenantCtx();
    const before = await createIndividual(t);
    const body = copy(before);
    body.address.city = "Leeds";
    body.address.line1 = "1 Other Street";
    body.metadata = { tier: "gold" };
    const cityOnly = await t.update(body, ["address.city"]);
    expect(cityOnly.address).toEqual({ ...before.address, city: "Leeds" });
    expect(cityOnly.metadata).toEqual(before.metadata);

    body.etag = cityOnly.etag;
    const metaOnly = await t.update(body, ["metadata"]);
    expect(metaOnly.metadata).toEqual({ tier: "gold" });
    expect(metaOnly.address).toEqual({ ...before.address, city: "Leeds" });
    expect(metaOnly.etag).toBe("3");
  });

  it('["address"] without an address in the body removes it', async () => {
    const t = await tenantCtx();
    const before = await createIndividual(t);
    const body = copy(before);
    delete body.address;
    const after = await t.update(body, ["address"]);
    expect(after.address).toBeNull();
    expect(stable(after, "address", "missingRequirements")).toEqual(stable(before, "address", "missingRequirements"));
    // The country (GB) requires an address: without it, it is due again (computed on every read).
    expect(before.missingRequirements).toEqual(["email", "phone_number"]);
    expect(after.missingRequirements).toEqual(["address", "email", "phone_number"]);
  });

  it('["individual.national_id"] with a new value changes the masked value; unset in the body removes the identifier', async () => {
    const t = await tenantCtx();
    const before = await createIndividual(t);
    expect(before.individual.nationalId.maskedValue).toBe("…456C");
    const body = copy(before);
    body.individual.nationalId = { type: "GB_NINO", value: "AB 98 76 54 D" };
    body.individual.occupation = "Poet"; // not in the mask
    const changed = await t.update(body, ["individual.national_id"]);
    expect(changed.individual.nationalId).toEqual({ type: "GB_NINO", value: "", maskedValue: "…654D" });
    expect(changed.individual.occupation).toBe("Mathematician");

    const body2 = copy(changed);
    delete body2.individual.nationalId;
    const removed = await t.update(body2, ["individual.national_id"]);
    expect(removed.individual.nationalId).toBeNull();
    expect(stable(removed, "individual")).toEqual(stable(changed, "individual"));
    expect({ ...removed.individual, nationalId: "x" }).toEqual({ ...changed.individual, nationalId: "x" });
    expect((await storedProfile(t.tenant.id, before.id)).nationalId ?? null).toBeNull();
  });

  it('["*"] with only the required fields set clears every optional field', async () => {
    const t = await tenantCtx();
    const before = await createIndividual(t);
    await markContactsVerified(server, t.tenant.id, before.id);
    const after = await t.update(
      { id: before.id, individual: { givenName: "Ada", familyName: "King" }, email: before.email, countryCode: "FR" },
      ["*"],
    );
    expect(after.individual).toEqual({
      givenName: "Ada",
      middleName: "",
      familyName: "King",
      dateOfBirth: null,
      nationality: "",
      taxResidencyCountry: "",
      nationalId: null,
      occupation: "",
    });
    expect(after.countryCode).toBe("FR");
    expect(after.email).toBe(before.email);
    expect(after.phoneNumber).toBe("");
    expect(after.address).toBeNull();
    expect(after.externalId).toBe("");
    expect(after.metadata).toEqual({});
    expect([after.emailVerified, after.phoneVerified]).toEqual([true, false]);
    // Not changeable through an update: untouched.
    expect([after.id, after.type, after.status, after.createTime]).toEqual([before.id, before.type, before.status, before.createTime]);
  });
});

// ---------------------------------------------------------------------------------------------

describe("no update_mask: the fields set in the body", () => {
  it("a body with some fields set changes those and keeps the rest (national_id, address, phone, metadata)", async () => {
    const t = await tenantCtx();
    const before = await createIndividual(t);
    const sealedBefore = (await storedProfile(t.tenant.id, before.id)).nationalId.sealed;
    // Valid on its own (given name, email and country are required by the request's rules).
    const after = await t.update({
      id: before.id,
      individual: { givenName: "Ada", familyName: "X" },
      email: before.email,
      countryCode: "GB",
    });
    expect(after.individual).toEqual({ ...before.individual, familyName: "X" });
    expect(stable(after, "individual")).toEqual(stable(before, "individual"));
    expect((await storedProfile(t.tenant.id, before.id)).nationalId.sealed).toBe(sealedBefore);
  });

  it("customer {id, individual: {family_name}} changes family_name only", async () => {
    const t = await tenantCtx();
    const before = await createIndividual(t);
    const after = await t.update({ id: before.id, individual: { familyName: "X" } });
    expect(after.individual).toEqual({ ...before.individual, familyName: "X" });
    expect(stable(after, "individual")).toEqual(stable(before, "individual"));
  });

  it("customer {id, address: {city}} changes the city and keeps the other address lines", async () => {
    const t = await tenantCtx();
    const before = await createIndividual(t);
    const after = await t.update({ id: before.id, address: { city: "Leeds" } });
    expect(after.address).toEqual({ ...before.address, city: "Leeds" });
    expect(stable(after, "address")).toEqual(stable(before, "address"));
  });

  it("the other profile without a mask: INVALID_UPDATE_MASK, nothing changed", async () => {
    const t = await tenantCtx();
    const before = await createIndividual(t);
    const err = await t.updateError({
      id: before.id,
      business: { legalName: "Ada Ltd" },
      email: before.email,
      countryCode: "GB",
    });
    expectViolation(err, "update_mask", "INVALID_UPDATE_MASK");
    expect(await t.get(before.id)).toEqual(before);
  });
});

// ---------------------------------------------------------------------------------------------

describe("government identifiers across updates", () => {
  it("updating another field leaves national_id (masked value and ciphertext) unchanged", async () => {
    const t = await tenantCtx();
    const before = await createIndividual(t);
    const sealed = (await storedProfile(t.tenant.id, before.id)).nationalId.sealed;
    const body = copy(before);
    body.individual.occupation = "Engineer";
    const after = await t.update(body, ["individual.occupation"]);
    expect(after.individual.occupation).toBe("Engineer");
    expect(after.individual.nationalId).toEqual(before.individual.nationalId);
    expect((await storedProfile(t.tenant.id, before.id)).nationalId.sealed).toBe(sealed);

    // The whole profile sent back as read (value "", same type) keeps the identifier too.
    const body2 = copy(after);
    body2.individual.occupation = "Analyst";
    const after2 = await t.update(body2, ["individual"]);
    expect(after2.individual.nationalId).toEqual(before.individual.nationalId);
    expect((await storedProfile(t.tenant.id, before.id)).nationalId.sealed).toBe(sealed);
  });

  it("national_id with the same type and an empty value under the mask keeps it (a no-op)", async () => {
    const t = await tenantCtx();
    const before = await createIndividual(t);
    const sealed = (await storedProfile(t.tenant.id, before.id)).nationalId.sealed;
    const body = copy(before);
    body.individual.nationalId = { type: "GB_NINO", value: "" };
    const after = await t.update(body, ["individual.national_id"]);
    expect(after).toEqual(before);
    expect((await storedProfile(t.tenant.id, before.id)).nationalId.sealed).toBe(sealed);
    expect((await eventRows(t.tenant.id, before.id)).map((e) => e.type)).toEqual(["CUSTOMER_CREATED"]);
  });

  it("national_id with another type and an empty value → INVALID_ARGUMENT on customer.individual.national_id.value", async () => {
    const t = await tenantCtx();
    const before = await createIndividual(t);
    const body = copy(before);
    body.individual.nationalId = { type: "US_SSN", value: "" };
    const err = await t.updateError(body, ["individual.national_id"]);
    expectViolation(err, "customer.individual.national_id.value");
    expect(await t.get(before.id)).toEqual(before);
  });

  it("a business's tax_id is kept when the profile is sent back as read", async () => {
    const t = await tenantCtx();
    const before = (await t.call("createCustomer", { customer: businessBody() })).customer;
    expect(before.business.taxId).toEqual({ type: "GB_VAT", value: "", maskedValue: "…9973" });
    const body = copy(before);
    body.business.tradingName = "Engines";
    const after = await t.update(body, ["business"]);
    expect(after.business.tradingName).toBe("Engines");
    expect(after.business.taxId).toEqual(before.business.taxId);
  });
});

// ---------------------------------------------------------------------------------------------

describe("representatives", () => {
  it("sent back with their ids they keep them; a new one gets an id; an unknown id is refused", async () => {
    const t = await tenantCtx();
    const before = (await t.call("createCustomer", { customer: businessBody() })).customer;
    const oldIds = before.business.representatives.map((r: any) => r.id);
    expect(oldIds).toHaveLength(2);
    for (const id of oldIds) expect(id).toMatch(UUID);

    const body = copy(before);
    body.business.representatives[1].title = "Chair";
    body.business.representatives.push({
      givenName: "Luigi",
      familyName: "Menabrea",
      roles: ["REPRESENTATIVE_ROLE_AUTHORIZED_SIGNER"],
      ownershipBasisPoints: 1000,
    });
    const after = await t.update(body, ["business.representatives"]);
    const reps = after.business.representatives;
    expect(reps.map((r: any) => r.id).slice(0, 2)).toEqual(oldIds);
    expect(reps[1].title).toBe("Chair");
    expect(reps[2].id).toMatch(UUID);
    expect(oldIds).not.toContain(reps[2].id);
    expect(reps[2].givenName).toBe("Luigi");
    expect((await t.get(before.id)).business.representatives).toEqual(reps);

    // Dropping one and sending the others back keeps the others' ids.
    const body2 = copy(after);
    body2.business.representatives.splice(0, 1);
    const after2 = await t.update(body2, ["business.representatives"]);
    expect(after2.business.representatives.map((r: any) => r.id)).toEqual([oldIds[1], reps[2].id]);

    // An id that is not one of this customer's representatives.
    const body3 = copy(after2);
    body3.business.representatives[1].id = randomUUID();
    const err = await t.updateError(body3, ["business.representatives"]);
    expectViolation(err, "customer.business.representatives.1.id");
    expect(await t.get(before.id)).toEqual(after2);

    // Another customer's representative id is just as unknown.
    const otherBiz = (await t.call("createCustomer", { customer: { ...businessBody(), phoneNumber: "+14155552672" } })).customer;
    const body4 = copy(after2);
    body4.business.representatives[0].id = otherBiz.business.representatives[0].id;
    expectViolation(await t.updateError(body4, ["business.representatives"]), "customer.business.representatives.0.id");
  });

  it("ownership above 100 % after an update → INVALID_ARGUMENT on customer.business.representatives", async () => {
    const t = await tenantCtx();
    const before = (await t.call("createCustomer", { customer: businessBody() })).customer;
    const body = copy(before);
    body.business.representatives[1].ownershipBasisPoints = 4001;
    const err = await t.updateError(body, ["business.representatives"]);
    expectViolation(err, "customer.business.representatives");
    expect(details(err).violations.map((v) => v.ruleId)).toContain("representatives.ownership_total");
    expect(await t.get(before.id)).toEqual(before);
  });
});

// ---------------------------------------------------------------------------------------------

describe("invalid masks and invalid results", () => {
  const badPaths = [
    ["id"],
    ["type"],
    ["status"],
    ["email_verified"],
    ["etag"],
    ["create_time"],
    ["links"],
    ["allowed_transitions"],
    ["business.legal_name"],
    ["business"],
    ["nope"],
    ["address.nope"],
    ["individual.nope"],
    ["email.local"],
    ["address.city.x"],
    [""],
    ["email", "status"],
  ];
  for (const paths of badPaths) {
    it(`${JSON.stringify(paths)} on an individual → INVALID_ARGUMENT, INVALID_UPDATE_MASK, nothing changed`, async () => {
      const t = await tenantCtx();
      const before = await createIndividual(t);
      const body = copy(before);
      body.email = `other.${randomUUID()}@example.com`;
      const err = await t.updateError(body, paths);
      expectViolation(err, "update_mask", "INVALID_UPDATE_MASK");
      expect(await t.get(before.id)).toEqual(before);
    });
  }

  it('["individual.given_name"] on a business → INVALID_UPDATE_MASK', async () => {
    const t = await tenantCtx();
    const before = (await t.call("createCustomer", { customer: businessBody() })).customer;
    const err = await t.updateError(copy(before), ["individual.given_name"]);
    expectViolation(err, "update_mask", "INVALID_UPDATE_MASK");
  });

  it('["email"] with an empty email → customer.email; nothing changed', async () => {
    const t = await tenantCtx();
    const before = await createIndividual(t);
    const body = copy(before);
    body.email = "";
    expectViolation(await t.updateError(body, ["email"]), "customer.email");
    expect(await t.get(before.id)).toEqual(before);
  });

  it('["address.line1"] emptied while the address exists → customer.address.line1 (in the body or by omission)', async () => {
    const t = await tenantCtx();
    const before = await createIndividual(t);
    const body = copy(before);
    body.address.line1 = "";
    expectViolation(await t.updateError(body, ["address.line1"]), "customer.address.line1");
    // The body has no address at all: the merge clears line1 of the stored address.
    const body2 = copy(before);
    delete body2.address;
    expectViolation(await t.updateError(body2, ["address.line1"]), "customer.address.line1");
    expect(await t.get(before.id)).toEqual(before);
  });

  it("no customer → customer; a customer.id that is not a UUID → customer.id", async () => {
    const t = await tenantCtx();
    expectViolation(await t.fail("updateCustomer", { updateMask: { paths: ["email"] } }), "customer");
    expectViolation(await t.updateError({ id: "not-a-uuid", email: "a@example.com" }, ["email"]), "customer.id");
  });

  it("a representative without roles: the same violation (path and rule) as on create", async () => {
    const t = await tenantCtx();
    const bad = businessBody();
    (bad.business.representatives[1] as { roles: string[] }).roles = [];
    const onCreate = violationPaths(await t.fail("createCustomer", { customer: bad }));
    expect(onCreate).toContainEqual(["customer.business.representatives[1].roles", "repeated.min_items"]);

    const before = (await t.call("createCustomer", { customer: businessBody() })).customer;
    const body = copy(before);
    body.business.representatives[1].roles = [];
    const err = await t.updateError(body, ["business.representatives"]);
    expectError(err, grpc.status.INVALID_ARGUMENT, "INVALID_ARGUMENT");
    expect(violationPaths(err)).toContainEqual(["customer.business.representatives[1].roles", "repeated.min_items"]);
    expect(await t.get(before.id)).toEqual(before);
  });

  it("a phone number outside the numbering plan → customer.phone_number", async () => {
    const t = await tenantCtx();
    const before = await createIndividual(t);
    const body = copy(before);
    body.phoneNumber = "+15550001234";
    expectViolation(await t.updateError(body, ["phone_number"]), "customer.phone_number");
    expect(await t.get(before.id)).toEqual(before);
  });

  it("an email held by another live customer → ALREADY_EXISTS EMAIL_ALREADY_EXISTS naming it", async () => {
    const t = await tenantCtx();
    const holder = await createIndividual(t);
    const other = await createIndividual(t, { ...individualBody(), phoneNumber: "+33612345678" });
    const body = copy(other);
    body.email = holder.email.toUpperCase();
    const err = await t.updateError(body, ["email"]);
    expectError(err, grpc.status.ALREADY_EXISTS, "EMAIL_ALREADY_EXISTS");
    expect(details(err).errorInfo?.metadata.customer_id).toBe(holder.id);
    expect(await t.get(other.id)).toEqual(other);
  });

  it("closed → FAILED_PRECONDITION CUSTOMER_CLOSED; unknown id and another tenant's → NOT_FOUND; empty id → customer.id", async () => {
    const t = await tenantCtx();
    const before = await createIndividual(t);
    const body = copy(before);
    body.individual.familyName = "Changed";
    delete body.etag; // unconditional: the close below moves the etag on

    const other = await tenantCtx();
    expectError(await other.updateError(body, ["individual.family_name"]), grpc.status.NOT_FOUND, "CUSTOMER_NOT_FOUND");
    expect(await t.get(before.id)).toEqual(before);

    expectError(
      await t.updateError({ ...body, id: randomUUID() }, ["individual.family_name"]),
      grpc.status.NOT_FOUND,
      "CUSTOMER_NOT_FOUND",
    );
    expectViolation(await t.updateError({ ...body, id: "" }, ["individual.family_name"]), "customer.id");

    const closed = (await t.call("closeCustomer", { id: before.id, reason: "STATUS_REASON_CUSTOMER_REQUEST" })).customer;
    const err = await t.updateError(body, ["individual.family_name"]);
    expectError(err, grpc.status.FAILED_PRECONDITION, "CUSTOMER_CLOSED");
    expect(await t.get(before.id)).toEqual(closed);
  });
});

// ---------------------------------------------------------------------------------------------

describe("etags", () => {
  it("the current etag applies the update (etag 2); a stale one → ABORTED ETAG_MISMATCH", async () => {
    const t = await tenantCtx();
    const before = await createIndividual(t);
    const body = copy(before);
    body.individual.familyName = "Byron";
    const after = await t.update(body, ["individual.family_name"]);
    expect(after.etag).toBe("2");
    expect(after.individual.familyName).toBe("Byron");

    const stale = copy(before); // etag "1"
    stale.individual.familyName = "King";
    const err = await t.updateError(stale, ["individual.family_name"]);
    expectError(err, grpc.status.ABORTED, "ETAG_MISMATCH");
    expect(await t.get(before.id)).toEqual(after);

    // Without an etag there is no condition.
    const { etag: _etag, ...unconditional } = stale;
    expect((await t.update(unconditional, ["individual.family_name"])).etag).toBe("3");
  });

  it("two concurrent updates with the same etag: exactly one wins, the other is ABORTED; five rounds", async () => {
    const t = await tenantCtx();
    let current = await createIndividual(t);
    for (let round = 0; round < 5; round++) {
      const names = [`Left${round}`, `Right${round}`];
      const attempts = names.map((name) => {
        const body = copy(current);
        body.individual.familyName = name;
        return unary(c.customers, "updateCustomer", updateRequest(body, ["individual.family_name"]), metadata(bearer(t.tenant.apiKey)));
      });
      const results = await Promise.allSettled(attempts);
      const ok = results.flatMap((r, i) => (r.status === "fulfilled" ? [{ i, value: r.value as any }] : []));
      const failed = results.flatMap((r) => (r.status === "rejected" ? [r.reason as grpc.ServiceError] : []));
      expect(ok).toHaveLength(1);
      expect(failed).toHaveLength(1);
      expect(failed[0]!.code).toBe(grpc.status.ABORTED);
      expect(["ETAG_MISMATCH", "CONCURRENT_MODIFICATION"]).toContain(details(failed[0]!).errorInfo?.reason);
      const winner = ok[0]!;
      expect(winner.value.customer.individual.familyName).toBe(names[winner.i]);
      expect(winner.value.customer.etag).toBe(String(Number(current.etag) + 1));
      const stored = await sql<{ family: string; version: number }>(
        server.databaseUrl,
        "select profile->>'familyName' as family, version from customers where tenant_id = $1 and id = $2",
        [t.tenant.id, current.id],
      );
      expect(stored).toEqual([{ family: names[winner.i], version: Number(current.etag) + 1 }]);
      current = await t.get(current.id);
      expect(current).toEqual(winner.value.customer);
    }
    const events = await eventRows(t.tenant.id, current.id);
    expect(events.map((e) => e.type)).toEqual(["CUSTOMER_CREATED", ...Array(5).fill("CUSTOMER_UPDATED")]);
  });
});

// ---------------------------------------------------------------------------------------------

describe("events", () => {
  it("an update that changes nothing returns the same etag and writes no event", async () => {
    const t = await tenantCtx();
    const before = await createIndividual(t);
    const same = await t.update(copy(before), ["email", "address", "metadata", "individual.family_name"]);
    expect(same).toEqual(before);
    const same2 = await t.update(copy(before), ["email", "phone_number", "address.city"]);
    expect(same2.etag).toBe("1");
    expect((await eventRows(t.tenant.id, before.id)).map((e) => e.type)).toEqual(["CUSTOMER_CREATED"]);
  });

  it("an update writes one CUSTOMER_UPDATED event listing the changed field names, never values", async () => {
    const t = await tenantCtx();
    const before = await createIndividual(t);
    const newEmail = `secret.${randomUUID()}@example.com`;
    const body = copy(before);
    body.email = newEmail;
    await t.update(body, ["email"]);
    let events = await eventRows(t.tenant.id, before.id);
    expect(events.map((e) => [e.type, e.changed_fields])).toEqual([
      ["CUSTOMER_CREATED", []],
      ["CUSTOMER_UPDATED", ["email"]],
    ]);

    const body2 = copy(await t.get(before.id));
    body2.individual.familyName = "Zebedee";
    body2.individual.nationalId = { type: "GB_NINO", value: "ZX998877A" };
    body2.address.city = "Bath";
    body2.metadata = { k: "metavalue" };
    await t.update(body2, ["individual.family_name", "individual.national_id", "address.city", "metadata"]);
    events = await eventRows(t.tenant.id, before.id);
    expect(events).toHaveLength(3);
    expect(events[2]!.type).toBe("CUSTOMER_UPDATED");
    expect([...events[2]!.changed_fields].sort()).toEqual(["address", "individual.family_name", "individual.national_id", "metadata"]);
    const raw = events.map((e) => e.raw).join("\n");
    for (const value of [newEmail, "Zebedee", "ZX998877A", "Bath"]) expect(raw).not.toContain(value);
  });
});

// ---------------------------------------------------------------------------------------------

describe("request_id", () => {
  it("a replay returns the identical response and writes once; the same id with another body → REQUEST_ID_REUSED", async () => {
    const t = await tenantCtx();
    const before = await createIndividual(t);
    const requestId = randomUUID();
    const body = copy(before);
    body.individual.familyName = "Byron";
    const request = updateRequest(body, ["individual.family_name"], { requestId });
    const first = await t.call("updateCustomer", request);
    expect(first.customer.etag).toBe("2");
    const replay = await t.call("updateCustomer", request);
    expect(replay).toEqual(first);
    expect((await t.get(before.id)).etag).toBe("2");

    const body2 = copy(body);
    body2.individual.familyName = "Somebody Else";
    const err = await t.fail("updateCustomer", updateRequest(body2, ["individual.family_name"], { requestId }));
    expectError(err, grpc.status.ALREADY_EXISTS, "REQUEST_ID_REUSED");
    expect((await t.get(before.id)).individual.familyName).toBe("Byron");
    expect((await eventRows(t.tenant.id, before.id)).map((e) => e.type)).toEqual(["CUSTOMER_CREATED", "CUSTOMER_UPDATED"]);
  });
});

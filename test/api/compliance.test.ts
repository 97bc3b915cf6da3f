// Country compliance through the API (acceptance: "For each of the 15+ countries: a complete
// individual activates; removing each required field in turn makes it currentlyDue and blocks
// activation"; "Invalid identifiers (bad check digit, wrong length) → INVALID_ARGUMENT naming
// the field path"; profile-completion walk-throughs driven by GetCustomerRequirements).
//
// The per-country cases are GENERATED from COUNTRY_RULES: for every supported country a complete
// individual (every required and eventually-due path filled: a local mobile number from
// libphonenumber's examples, a valid postal code, an adult date of birth, the first accepted
// national id type with IDENTIFIERS[type].example) is created through the gRPC API, and then one
// fresh customer per required path is created without that path. Every test makes its own
// tenant; the cases run concurrently (at most 8 at a time, see vi.setConfig below).
import { randomUUID } from "node:crypto";
import { getExampleNumber, type CountryCode } from "libphonenumber-js/max";
import examples from "libphonenumber-js/mobile/examples";
import { describe, expect, it, vi } from "vitest";
import { COUNTRY_RULES, SUPPORTED_COUNTRIES } from "../../src/compliance/countries.js";
import { IDENTIFIERS, validateIdentifier } from "../../src/compliance/identifiers.js";
import { bearer, createTenant, markContactsVerified, sql, type TestServer, type TestTenant } from "../support/app.js";
import { withServer } from "../support/file-server.js";
import { details, grpc, grpcClients, metadata, unary, unaryError, preconditionFailures } from "../support/grpc.js";
import { COUNTRY_SAMPLES as SAMPLE } from "../support/fixtures.js";

// The generated cases are independent (a tenant each): run 8 at a time instead of vitest's 5.
vi.setConfig({ maxConcurrency: 8 });
const CASE_TIMEOUT_MS = 120_000;

const DOMAIN = "customerms.finhub";

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

interface Ctx {
  tenant: TestTenant;
  call<T = any>(method: string, request: object): Promise<T>;
  fail(method: string, request: object): Promise<grpc.ServiceError>;
}

async function tenantCtx(): Promise<Ctx> {
  const tenant = await createTenant(server);
  const md = metadata(bearer(tenant.apiKey));
  return {
    tenant,
    call: (method, request) => unary(c.customers, method, request, md),
    fail: (method, request) => unaryError(c.customers, method, request, md),
  };
}

async function rowCounts(tenantId: string): Promise<{ customers: number; events: number }> {
  const [row] = await sql<{ customers: number; events: number }>(
    server.databaseUrl,
    `select (select count(*)::int from customers where tenant_id = $1) as customers,
            (select count(*)::int from customer_events where tenant_id = $1) as events`,
    [tenantId],
  );
  return row!;
}


const localPhone = (country: string) => getExampleNumber(country as CountryCode, examples)!.number;

function addressIn(country: string) {
  const postal = SAMPLE[country]!.postal;
  return { line1: "1 High Street", line2: "", city: "Capital", region: "Region", postalCode: postal ?? "", countryCode: country };
}

const identifier = (type: string) => ({ type, value: IDENTIFIERS[type]!.example });

/** A complete individual of `country` as a CreateCustomer body (proto-loader field names). */
function completeIndividual(country: string): any {
  const rules = COUNTRY_RULES[country]!;
  return {
    individual: {
      givenName: "Ada",
      familyName: "Lovelace",
      dateOfBirth: { year: 1980, month: 12, day: 10 },
      nationality: country,
      taxResidencyCountry: country,
      nationalId: identifier(rules.individual.nationalIdTypes[0]!),
      occupation: "Engineer",
    },
    email: `ada.${randomUUID()}@example.com`,
    phoneNumber: localPhone(country),
    countryCode: country,
    address: addressIn(country),
  };
}

const REPRESENTATIVES = [
  {
    givenName: "Grace",
    familyName: "Hopper",
    dateOfBirth: { year: 1970, month: 1, day: 1 },
    nationality: "US",
    roles: ["REPRESENTATIVE_ROLE_DIRECTOR", "REPRESENTATIVE_ROLE_BENEFICIAL_OWNER"],
    ownershipBasisPoints: 6000,
    title: "CEO",
  },
  {
    givenName: "Alan",
    familyName: "Turing",
    dateOfBirth: { year: 1975, month: 6, day: 23 },
    nationality: "GB",
    roles: ["REPRESENTATIVE_ROLE_BENEFICIAL_OWNER"],
    ownershipBasisPoints: 4000,
  },
];

/** A complete business of `country` as a CreateCustomer body. */
function completeBusiness(country: string): any {
  const rules = COUNTRY_RULES[country]!;
  return {
    business: {
      legalName: "Analytical Engines Ltd",
      entityType: "BUSINESS_ENTITY_TYPE_LLC",
      registrationNumber: SAMPLE[country]!.registration,
      taxId: identifier(rules.business.taxIdTypes[0]!),
      incorporationCountry: country,
      incorporationDate: { year: 2010, month: 6, day: 1 },
      industry: "Software",
      representatives: REPRESENTATIVES,
    },
    email: `ops.${randomUUID()}@example.com`,
    phoneNumber: localPhone(country),
    countryCode: country,
    address: addressIn(country),
  };
}

/** The body without `path` (an independent reading of "missing" for each required path). */
function without(body: any, path: string): any {
  const b = structuredClone(body);
  const [head, sub] = path.split(".") as [string, string | undefined];
  if (path === "address") {
    delete b.address;
  } else if (path === "address.postal_code") {
    b.address.postalCode = "";
  } else if ((head === "individual" || head === "business") && sub !== undefined) {
    const key = sub.replace(/_([a-z])/g, (_, ch: string) => ch.toUpperCase());
    if (!(key in b[head])) throw new Error(`the test does not know how to remove ${path}: extend completeIndividual/completeBusiness`);
    delete b[head][key];
  } else {
    throw new Error(`the test does not know how to remove ${path}: extend without()`);
  }
  return b;
}

/** Creates `body`, verifies its contacts, and returns the customer as read back. */
async function createVerified(t: Ctx, body: object): Promise<any> {
  const created = (await t.call("createCustomer", { customer: body })).customer;
  expect(created.status).toBe("CUSTOMER_STATUS_PENDING");
  expect(created.missingRequirements).toEqual(expect.arrayContaining(["email", "phone_number"]));
  await markContactsVerified(server, t.tenant.id, created.id);
  const read = (await t.call("getCustomer", { id: created.id })).customer;
  expect({ email: read.emailVerified, phone: read.phoneVerified }).toEqual({ email: true, phone: true });
  return read;
}

async function expectActivates(t: Ctx, id: string): Promise<void> {
  const active = (await t.call("activateCustomer", { id })).customer;
  expect(active.status).toBe("CUSTOMER_STATUS_ACTIVE");
  expect(active.statusReason).toBe("STATUS_REASON_ONBOARDING_COMPLETED");
  expect(active.missingRequirements).toEqual([]);
}

/** `path` alone is due (by the country), and activation is refused naming it; nothing written. */
async function expectBlockedBy(t: Ctx, customer: any, path: string, countryName: string): Promise<void> {
  expect(customer.missingRequirements).toContain(path);
  expect(customer.missingRequirements).toEqual([path]);
  const r = await t.call("getCustomerRequirements", { id: customer.id });
  expect(r.currentlyDue).toEqual([{ field: path, reason: "FIELD_REQUIRED_BY_COUNTRY", description: expect.stringContaining(countryName) }]);
  const err = await t.fail("activateCustomer", { id: customer.id });
  expectError(err, grpc.status.FAILED_PRECONDITION, "ACTIVATION_REQUIREMENTS_NOT_MET");
  expect(preconditionFailures(err)).toEqual([{ type: "FIELD_REQUIRED_BY_COUNTRY", subject: path, description: expect.stringContaining(countryName) }]);
  const after = (await t.call("getCustomer", { id: customer.id })).customer;
  expect({ status: after.status, etag: after.etag }).toEqual({ status: "CUSTOMER_STATUS_PENDING", etag: customer.etag });
}

// ---------------------------------------------------------------------------------------------
// Every country of the table, individuals

describe("the country table", () => {
  it("has 15+ countries, each with a sample postal code and a required list for individuals", () => {
    expect(SUPPORTED_COUNTRIES.length).toBeGreaterThanOrEqual(15);
    expect(Object.keys(SAMPLE).sort()).toEqual([...SUPPORTED_COUNTRIES]);
    for (const cc of SUPPORTED_COUNTRIES) expect(COUNTRY_RULES[cc]!.individual.required.length, cc).toBeGreaterThan(0);
  });
});

describe.concurrent.each(SUPPORTED_COUNTRIES.map((cc) => [cc, COUNTRY_RULES[cc]!.name] as const))("%s (%s) individual", (country, name) => {
  const rules = COUNTRY_RULES[country]!;

  it(
    "complete: nothing missing once contacts are verified, and ActivateCustomer → ACTIVE",
    async () => {
      const t = await tenantCtx();
      const body = completeIndividual(country);
      const created = (await t.call("createCustomer", { customer: body })).customer;
      // Only the contacts are due on a fresh complete customer.
      expect(created.missingRequirements).toEqual(["email", "phone_number"]);
      expect(created.individual.nationalId).toEqual({ type: body.individual.nationalId.type, value: "", maskedValue: expect.stringMatching(/^…/) });
      await markContactsVerified(server, t.tenant.id, created.id);
      const read = (await t.call("getCustomer", { id: created.id })).customer;
      expect(read.missingRequirements).toEqual([]);
      expect(await t.call("getCustomerRequirements", { id: created.id })).toEqual({ currentlyDue: [], eventuallyDue: [] });
      await expectActivates(t, created.id);
    },
    CASE_TIMEOUT_MS,
  );

  it.each(rules.individual.required.map((p) => [p]))(
    "without %s: missing, currently due (FIELD_REQUIRED_BY_COUNTRY), and ActivateCustomer is refused naming it",
    async (path) => {
      const t = await tenantCtx();
      const customer = await createVerified(t, without(completeIndividual(country), path));
      await expectBlockedBy(t, customer, path, name);
    },
    CASE_TIMEOUT_MS,
  );
});

// ---------------------------------------------------------------------------------------------
// Businesses with representatives: GB and DE

describe.concurrent.each([["GB"], ["DE"]])("%s business with representatives", (country) => {
  const rules = COUNTRY_RULES[country]!;

  it(
    "complete: nothing missing once contacts are verified, and ActivateCustomer → ACTIVE",
    async () => {
      const t = await tenantCtx();
      const customer = await createVerified(t, completeBusiness(country));
      expect(customer.type).toBe("CUSTOMER_TYPE_BUSINESS");
      expect(customer.business.representatives).toHaveLength(2);
      expect(customer.missingRequirements).toEqual([]);
      expect(await t.call("getCustomerRequirements", { id: customer.id })).toEqual({ currentlyDue: [], eventuallyDue: [] });
      await expectActivates(t, customer.id);
    },
    CASE_TIMEOUT_MS,
  );

  it.each(rules.business.required.map((p) => [p]))(
    "without %s: missing, currently due, and ActivateCustomer is refused naming it",
    async (path) => {
      const t = await tenantCtx();
      const customer = await createVerified(t, without(completeBusiness(country), path));
      await expectBlockedBy(t, customer, path, rules.name);
    },
    CASE_TIMEOUT_MS,
  );

  it(
    "an owner at the threshold without the beneficial_owner role: BENEFICIAL_OWNER_REQUIRED blocks activation",
    async () => {
      const t = await tenantCtx();
      const body = completeBusiness(country);
      body.business.representatives = [
        { ...REPRESENTATIVES[0], roles: ["REPRESENTATIVE_ROLE_DIRECTOR"], ownershipBasisPoints: 0 },
        { ...REPRESENTATIVES[1], roles: ["REPRESENTATIVE_ROLE_CONTROLLER"], ownershipBasisPoints: rules.business.beneficialOwnerThresholdBasisPoints },
      ];
      const customer = await createVerified(t, body);
      expect(customer.missingRequirements).toEqual(["business.representatives"]);
      const r = await t.call("getCustomerRequirements", { id: customer.id });
      expect(r.currentlyDue).toEqual([
        { field: "business.representatives", reason: "BENEFICIAL_OWNER_REQUIRED", description: expect.stringContaining("representatives[1]") },
      ]);
      const err = await t.fail("activateCustomer", { id: customer.id });
      expectError(err, grpc.status.FAILED_PRECONDITION, "ACTIVATION_REQUIREMENTS_NOT_MET");
      expect(preconditionFailures(err).map((v) => [v.type, v.subject])).toEqual([["BENEFICIAL_OWNER_REQUIRED", "business.representatives"]]);
    },
    CASE_TIMEOUT_MS,
  );
});

// ---------------------------------------------------------------------------------------------
// Values that cannot be right: INVALID_ARGUMENT naming the field, nothing written

/** A value of `type` that fails its check, after making sure the example passes and this one
 * does not (so the test cannot pass on a valid number by accident). */
function broken(type: string, mutate: (example: string) => string, message: RegExp): string {
  const example = IDENTIFIERS[type]!.example;
  expect(validateIdentifier(type, example).ok).toBe(true);
  const bad = mutate(example);
  const result = validateIdentifier(type, bad);
  expect(result).toEqual({ ok: false, message: expect.stringMatching(message) });
  return bad;
}

/** The example with its last digit replaced by another digit that makes the check fail. */
const lastDigitOff = (type: string) => (example: string) => {
  const i = example.search(/\d(?=\D*$)/);
  for (let d = 1; d <= 9; d++) {
    const candidate = example.slice(0, i) + String((Number(example[i]) + d) % 10) + example.slice(i + 1);
    if (!validateIdentifier(type, candidate).ok) return candidate;
  }
  throw new Error(`no single-digit change of ${example} fails ${type}`);
};

const thisYear = new Date().getUTCFullYear();

const INVALID: Array<{ name: string; body: () => any; field: string; ruleId: string }> = [
  {
    name: "DE_STEUER_ID with a wrong check digit",
    body: () => {
      const b = completeIndividual("DE");
      b.individual.nationalId = { type: "DE_STEUER_ID", value: broken("DE_STEUER_ID", lastDigitOff("DE_STEUER_ID"), /check digit/) };
      return b;
    },
    field: "customer.individual.national_id.value",
    ruleId: "identifier.valid",
  },
  {
    name: "BR_CPF too short",
    body: () => {
      const b = completeIndividual("BR");
      b.individual.nationalId = { type: "BR_CPF", value: broken("BR_CPF", (v) => v.slice(0, -3), /11 digits|digits/) };
      return b;
    },
    field: "customer.individual.national_id.value",
    ruleId: "identifier.valid",
  },
  {
    name: "an unknown identifier type XX_FOO",
    body: () => {
      const b = completeIndividual("GB");
      b.individual.nationalId = { type: "XX_FOO", value: "12345678" };
      return b;
    },
    field: "customer.individual.national_id.type",
    ruleId: "identifier.type_known",
  },
  {
    name: "a business BR_CNPJ with a bad check digit",
    body: () => {
      const b = completeBusiness("BR");
      b.business.taxId = { type: "BR_CNPJ", value: broken("BR_CNPJ", lastDigitOff("BR_CNPJ"), /check digit/) };
      return b;
    },
    field: "customer.business.tax_id.value",
    ruleId: "identifier.valid",
  },
  {
    name: "a GB individual with a postal code not in the Royal Mail format",
    body: () => {
      const b = completeIndividual("GB");
      b.address.postalCode = "12345";
      return b;
    },
    field: "customer.address.postal_code",
    ruleId: "postal_code.format",
  },
  {
    name: "an IN customer with a non-Indian phone number (IN has phoneMustBeLocal)",
    body: () => {
      expect(COUNTRY_RULES.IN!.phoneMustBeLocal).toBe(true);
      const b = completeIndividual("IN");
      b.phoneNumber = localPhone("GB");
      return b;
    },
    field: "customer.phone_number",
    ruleId: "phone_number.country",
  },
  {
    name: "a GB person under 18",
    body: () => {
      const b = completeIndividual("GB");
      b.individual.dateOfBirth = { year: thisYear - 17, month: 1, day: 1 };
      return b;
    },
    field: "customer.individual.date_of_birth",
    ruleId: "age.minimum",
  },
];

describe.concurrent("invalid values → INVALID_ARGUMENT naming the field path, nothing written", () => {
  it.each(INVALID)("$name → $field ($ruleId)", async ({ body, field, ruleId }) => {
    const t = await tenantCtx();
    const err = await t.fail("createCustomer", { customer: body(), requestId: randomUUID() });
    expectError(err, grpc.status.INVALID_ARGUMENT, "INVALID_ARGUMENT");
    const violations = details(err).violations;
    expect(violations.map((v) => [v.field, v.ruleId])).toEqual([[field, ruleId]]);
    expect(violations[0]!.message).not.toBe("");
    expect(await rowCounts(t.tenant.id)).toEqual({ customers: 0, events: 0 });
  });

  it("UpdateCustomer with a bad identifier is refused the same way and changes nothing", async () => {
    const t = await tenantCtx();
    const customer = (await t.call("createCustomer", { customer: completeIndividual("DE") })).customer;
    const bad = broken("DE_STEUER_ID", lastDigitOff("DE_STEUER_ID"), /check digit/);
    const err = await t.fail("updateCustomer", {
      customer: { id: customer.id, individual: { nationalId: { type: "DE_STEUER_ID", value: bad } } },
      updateMask: { paths: ["individual.national_id"] },
    });
    expectError(err, grpc.status.INVALID_ARGUMENT, "INVALID_ARGUMENT");
    expect(details(err).violations.map((v) => v.field)).toEqual(["customer.individual.national_id.value"]);
    const after = (await t.call("getCustomer", { id: customer.id })).customer;
    expect(after.etag).toBe(customer.etag);
    expect(after.individual.nationalId).toEqual(customer.individual.nationalId);
    expect(await rowCounts(t.tenant.id)).toEqual({ customers: 1, events: 1 });
  });
});

// ---------------------------------------------------------------------------------------------
// Profile completion: fill exactly what the requirements list asks, step by step

/** The UpdateCustomer body (profile-relative) that fills `path` with a valid value of `country`. */
function fill(country: string, path: string): object {
  const rules = COUNTRY_RULES[country]!;
  switch (path) {
    case "address":
      return { address: addressIn(country) };
    case "address.postal_code":
      return { address: { postalCode: SAMPLE[country]!.postal } };
    case "individual.date_of_birth":
      return { individual: { dateOfBirth: { year: 1985, month: 3, day: 14 } } };
    case "individual.nationality":
      return { individual: { nationality: country } };
    case "individual.tax_residency_country":
      return { individual: { taxResidencyCountry: country } };
    case "individual.national_id":
      return { individual: { nationalId: identifier(rules.individual.nationalIdTypes[0]!) } };
    case "individual.occupation":
      return { individual: { occupation: "Engineer" } };
    case "business.registration_number":
      return { business: { registrationNumber: SAMPLE[country]!.registration } };
    case "business.entity_type":
      return { business: { entityType: "BUSINESS_ENTITY_TYPE_LLC" } };
    case "business.tax_id":
      return { business: { taxId: identifier(rules.business.taxIdTypes[0]!) } };
    case "business.representatives":
      return { business: { representatives: REPRESENTATIVES } };
    case "business.incorporation_date":
      return { business: { incorporationDate: { year: 2010, month: 6, day: 1 } } };
    case "business.industry":
      return { business: { industry: "Software" } };
    default:
      throw new Error(`the walk-through does not know how to fill ${path}`);
  }
}

const MAX_STEPS = 20;

/** Reads the requirements, fills the first currently-due path (or verifies the first contact),
 * until nothing is due; returns the paths in the order they were asked for. */
async function walk(t: Ctx, country: string, id: string): Promise<string[]> {
  const steps: string[] = [];
  for (let i = 0; i < MAX_STEPS; i++) {
    const { currentlyDue } = await t.call("getCustomerRequirements", { id });
    if (currentlyDue.length === 0) return steps;
    const first = currentlyDue[0] as { field: string; reason: string };
    expect(steps, `${first.field} asked for twice`).not.toContain(first.field);
    steps.push(first.field);
    if (first.reason === "EMAIL_NOT_VERIFIED" || first.reason === "PHONE_NOT_VERIFIED") {
      const cur = (await t.call("getCustomer", { id })).customer;
      await markContactsVerified(server, t.tenant.id, id, {
        email: cur.emailVerified || first.reason === "EMAIL_NOT_VERIFIED",
        phone: cur.phoneVerified || first.reason === "PHONE_NOT_VERIFIED",
      });
    } else {
      expect(first.reason).toBe("FIELD_REQUIRED_BY_COUNTRY");
      const updated = (
        await t.call("updateCustomer", { customer: { id, ...fill(country, first.field) }, updateMask: { paths: [first.field] } })
      ).customer;
      expect(updated.missingRequirements).not.toContain(first.field);
    }
  }
  throw new Error(`still something due after ${MAX_STEPS} steps: ${steps.join(", ")}`);
}

describe.concurrent("profile completion walk-throughs", () => {
  it("an individual in DE: registration → ACTIVE by filling exactly what GetCustomerRequirements asks", async () => {
    const t = await tenantCtx();
    const created = (
      await t.call("createCustomer", {
        customer: { individual: { givenName: "Lena", familyName: "Schmidt" }, email: `lena.${randomUUID()}@example.de`, phoneNumber: localPhone("DE"), countryCode: "DE" },
      })
    ).customer;
    expect(created.missingRequirements).toEqual(["address", "email", "individual.date_of_birth", "individual.nationality", "phone_number"]);
    const err = await t.fail("activateCustomer", { id: created.id });
    expectError(err, grpc.status.FAILED_PRECONDITION, "ACTIVATION_REQUIREMENTS_NOT_MET");
    expect(preconditionFailures(err).map((v) => v.subject)).toEqual(created.missingRequirements);

    const steps = await walk(t, "DE", created.id);
    expect(steps).toEqual(["address", "email", "individual.date_of_birth", "individual.nationality", "phone_number"]);
    const read = (await t.call("getCustomer", { id: created.id })).customer;
    expect(read.missingRequirements).toEqual([]);
    await expectActivates(t, created.id);
  });

  it("a business in GB: registration → ACTIVE by filling exactly what GetCustomerRequirements asks", async () => {
    const t = await tenantCtx();
    const created = (
      await t.call("createCustomer", {
        customer: { business: { legalName: "Babbage & Co Ltd" }, email: `ops.${randomUUID()}@example.co.uk`, phoneNumber: localPhone("GB"), countryCode: "GB" },
      })
    ).customer;
    expect(created.missingRequirements).toEqual(["address", "business.registration_number", "business.representatives", "email", "phone_number"]);

    const steps = await walk(t, "GB", created.id);
    expect(steps).toEqual(["address", "business.registration_number", "business.representatives", "email", "phone_number"]);
    const read = (await t.call("getCustomer", { id: created.id })).customer;
    expect(read.missingRequirements).toEqual([]);
    expect(read.business.representatives).toHaveLength(2);
    await expectActivates(t, created.id);
  });
});

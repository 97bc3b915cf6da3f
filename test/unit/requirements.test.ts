// The requirements evaluator and the country value checks of src/compliance/requirements.ts.
// Cases are GENERATED from the country table: for every supported country and customer type a
// complete customer is built from the rules (every required and eventually-due path filled, the
// first accepted identifier type with a valid value, a local mobile number from libphonenumber's
// examples), then fields are removed one at a time (and in random subsets).
import fc from "fast-check";
import { getExampleNumber, type CountryCode } from "libphonenumber-js/max";
import examples from "libphonenumber-js/mobile/examples";
import { describe, expect, it } from "vitest";
import type { BusinessProfile, Customer, IndividualProfile, Representative } from "../../src/customers/customer.js";
import { SUPPORTED_COUNTRIES, rulesFor } from "../../src/compliance/countries.js";
import { IDENTIFIERS } from "../../src/compliance/identifiers.js";
import { countryViolations, evaluateRequirements, identifierViolations, isRequirementPath, type Requirement } from "../../src/compliance/requirements.js";
import { COUNTRY_SAMPLES as SAMPLE } from "../support/fixtures.js";

const NOW = new Date("2026-03-15T12:00:00.000Z");


const localPhone = (country: string) => getExampleNumber(country as CountryCode, examples)!.number;

function sealed(type: string) {
  const value = IDENTIFIERS[type]!.example;
  return { type, last4: value.slice(-4), sealed: `sealed:${type}` };
}

function base(country: string, profile: IndividualProfile | BusinessProfile): Customer {
  const sample = SAMPLE[country]!;
  return {
    tenantId: "11111111-1111-4111-8111-111111111111",
    id: "22222222-2222-4222-8222-222222222222",
    type: profile.kind,
    status: "pending",
    eraseTime: null,
    profile,
    email: "ada@example.com",
    emailVerified: true,
    emailVerifyTime: NOW,
    phoneNumber: localPhone(country),
    phoneVerified: true,
    phoneVerifyTime: NOW,
    countryCode: country,
    address: { line1: "1 High Street", line2: "", city: "Capital", region: "Region", postalCode: sample.postal ?? "", countryCode: country },
    externalId: null,
    metadata: {},
    links: [],
    statusReason: null,
    statusNote: "",
    statusTime: NOW,
    version: 1,
    createTime: NOW,
    updateTime: NOW,
  };
}

function completeIndividual(country: string): Customer {
  const rules = rulesFor(country)!;
  return base(country, {
    kind: "individual",
    givenName: "Ada",
    middleName: "",
    familyName: "Lovelace",
    dateOfBirth: { year: 1980, month: 12, day: 10 },
    nationality: country,
    taxResidencyCountry: country,
    nationalId: sealed(rules.individual.nationalIdTypes[0]!),
    occupation: "Engineer",
  });
}

function representative(over: Partial<Representative> = {}): Representative {
  return {
    id: "33333333-3333-4333-8333-333333333333",
    givenName: "Grace",
    familyName: "Hopper",
    dateOfBirth: { year: 1970, month: 1, day: 1 },
    nationality: "US",
    email: "",
    roles: ["director", "beneficial_owner"],
    ownershipBasisPoints: 10_000,
    title: "CEO",
    ...over,
  };
}

function completeBusiness(country: string): Customer {
  const rules = rulesFor(country)!;
  return base(country, {
    kind: "business",
    legalName: "Analytical Engines Ltd",
    tradingName: "",
    entityType: "corporation",
    registrationNumber: SAMPLE[country]!.registration,
    taxId: sealed(rules.business.taxIdTypes[0]!),
    incorporationCountry: country,
    incorporationDate: { year: 2010, month: 6, day: 1 },
    website: "",
    industry: "Software",
    representatives: [representative()],
  });
}

/** The customer without `path` (an independent reading of "missing"). */
function without(c: Customer, path: string): Customer {
  const p = c.profile;
  const ind = (over: Partial<IndividualProfile>) => ({ ...c, profile: { ...(p as IndividualProfile), ...over } });
  const bus = (over: Partial<BusinessProfile>) => ({ ...c, profile: { ...(p as BusinessProfile), ...over } });
  switch (path) {
    case "address":
      return { ...c, address: null };
    case "address.postal_code":
      return c.address === null ? c : { ...c, address: { ...c.address, postalCode: "" } };
    case "individual.date_of_birth":
      return ind({ dateOfBirth: null });
    case "individual.nationality":
      return ind({ nationality: "" });
    case "individual.tax_residency_country":
      return ind({ taxResidencyCountry: "" });
    case "individual.national_id":
      return ind({ nationalId: null });
    case "individual.occupation":
      return ind({ occupation: "  " });
    case "business.registration_number":
      return bus({ registrationNumber: "" });
    case "business.tax_id":
      return bus({ taxId: null });
    case "business.representatives":
      return bus({ representatives: [] });
    case "business.entity_type":
      return bus({ entityType: null });
    case "business.incorporation_date":
      return bus({ incorporationDate: null });
    case "business.industry":
      return bus({ industry: "" });
    default:
      throw new Error(`the test does not know how to remove ${path}: extend without()`);
  }
}

const fields = (list: readonly Requirement[]) => list.map((r) => r.field);
const complete = { individual: completeIndividual, business: completeBusiness };
const CASES = SUPPORTED_COUNTRIES.flatMap((country) => (["individual", "business"] as const).map((type) => [country, type] as const));

describe.each(CASES)("%s %s", (country, type) => {
  const rules = rulesFor(country)!;
  const own = rules[type];
  const customer = complete[type](country);

  it("complete and verified: nothing due, no country violation, a valid identifier", () => {
    expect(evaluateRequirements(customer, [], NOW)).toEqual({ currentlyDue: [], eventuallyDue: [] });
    expect(countryViolations(customer, NOW)).toEqual([]);
    const idPath = type === "individual" ? "individual.national_id" : "business.tax_id";
    const idType = type === "individual" ? rules.individual.nationalIdTypes[0]! : rules.business.taxIdTypes[0]!;
    expect(identifierViolations(idPath, idType, IDENTIFIERS[idType]!.example)).toEqual([]);
  });

  it.each(own.required.map((p) => [p]))("without %s: exactly that path is currently due, by the country", (path) => {
    const { currentlyDue, eventuallyDue } = evaluateRequirements(without(customer, path), [], NOW);
    expect(currentlyDue).toEqual([{ field: path, reason: "FIELD_REQUIRED_BY_COUNTRY", description: expect.stringContaining(rules.name) }]);
    expect(eventuallyDue).toEqual([]);
  });

  if (own.eventuallyDue.length > 0) {
    it.each(own.eventuallyDue.map((p) => [p]))("without %s: eventually due only", (path) => {
      const { currentlyDue, eventuallyDue } = evaluateRequirements(without(customer, path), [], NOW);
      expect(currentlyDue).toEqual([]);
      expect(eventuallyDue).toEqual([{ field: path, reason: "FIELD_REQUIRED_BY_COUNTRY", description: expect.any(String) }]);
    });
  }

  it("any subset of required paths removed: exactly those are due, sorted, covered children folded into their parent", () => {
    fc.assert(
      fc.property(fc.subarray([...own.required]), (removed) => {
        const c = removed.reduce(without, customer);
        const { currentlyDue } = evaluateRequirements(c, [], NOW);
        const expected = removed.filter((p) => !(p.startsWith("address.") && removed.includes("address"))).sort();
        expect(fields(currentlyDue)).toEqual(expected);
        expect(currentlyDue.every((r) => r.reason === "FIELD_REQUIRED_BY_COUNTRY")).toBe(true);
      }),
    );
  });

  it("with eventually: false, the same currentlyDue (descriptions included) and no eventual list, whatever is removed", () => {
    const paths = [...new Set([...own.required, ...own.eventuallyDue])];
    fc.assert(
      fc.property(fc.subarray(paths), fc.subarray(["external_id", "address.line2", "individual.middle_name", "business.website"] as const), fc.boolean(), (removed, tenant, verified) => {
        const c = { ...removed.reduce(without, customer), emailVerified: verified, phoneVerified: verified };
        const full = evaluateRequirements(c, tenant, NOW);
        const current = evaluateRequirements(c, tenant, NOW, { eventually: false });
        expect(current.currentlyDue).toEqual(full.currentlyDue);
        expect(current.eventuallyDue).toEqual([]);
        // Shared requirement objects: evaluating again gives equal lists, and they cannot be changed.
        expect(evaluateRequirements(c, tenant, NOW)).toEqual(full);
        for (const r of full.currentlyDue) expect(Object.isFrozen(r) || r.reason === "BENEFICIAL_OWNER_REQUIRED").toBe(true);
      }),
    );
  });

  it("tenant-required paths of the customer's own type add FIELD_REQUIRED_BY_TENANT; the other type's are ignored", () => {
    const mine = type === "individual" ? "individual.middle_name" : "business.website";
    const theirs = type === "individual" ? "business.website" : "individual.middle_name";
    const { currentlyDue } = evaluateRequirements(customer, [theirs, "external_id", mine, "address.line2"], NOW);
    expect(currentlyDue).toEqual([
      { field: "address.line2", reason: "FIELD_REQUIRED_BY_TENANT", description: expect.any(String) },
      { field: "external_id", reason: "FIELD_REQUIRED_BY_TENANT", description: expect.any(String) },
      { field: mine, reason: "FIELD_REQUIRED_BY_TENANT", description: expect.any(String) },
    ].sort((a, b) => (a.field < b.field ? -1 : 1)));
  });

  it("a path both the country and the tenant require appears once, with the country's reason", () => {
    const path = own.required[own.required.length - 1]!;
    const { currentlyDue } = evaluateRequirements(without(customer, path), [path, path], NOW);
    expect(currentlyDue).toEqual([{ field: path, reason: "FIELD_REQUIRED_BY_COUNTRY", description: expect.any(String) }]);
  });

  it("unverified contacts come first in their field order, with the other requirements", () => {
    const c = { ...without(customer, "address"), emailVerified: false, phoneVerified: false };
    expect(evaluateRequirements(c, [], NOW).currentlyDue).toEqual([
      { field: "address", reason: "FIELD_REQUIRED_BY_COUNTRY", description: expect.any(String) },
      { field: "email", reason: "EMAIL_NOT_VERIFIED", description: "verify the email address" },
      { field: "phone_number", reason: "PHONE_NOT_VERIFIED", description: "verify the phone number" },
    ]);
    const noPhone = { ...customer, phoneNumber: null, phoneVerified: false };
    expect(evaluateRequirements(noPhone, ["phone_number"], NOW).currentlyDue).toEqual([
      { field: "phone_number", reason: "PHONE_NOT_VERIFIED", description: "add a phone number and verify it" },
    ]);
  });

  it("catches a foreign phone number when the country wants a local one", () => {
    const foreign = localPhone(country === "GB" ? "US" : "GB");
    const got = countryViolations({ ...customer, phoneNumber: foreign }, NOW);
    if (rules.phoneMustBeLocal) {
      expect(got).toEqual([{ field: "customer.phone_number", ruleId: "phone_number.country", message: expect.stringContaining(rules.name) }]);
    } else {
      expect(got).toEqual([]);
    }
  });

  if (rules.postalCode !== null) {
    it("catches a postal code not in the country's format", () => {
      const c = { ...customer, address: { ...customer.address!, postalCode: "!!" } };
      expect(countryViolations(c, NOW)).toEqual([
        { field: "customer.address.postal_code", ruleId: "postal_code.format", message: `is not a valid ${rules.name} postal code` },
      ]);
    });
  }

  if (type === "individual") {
    it(`catches a person younger than ${rules.individual.minimumAge}`, () => {
      const min = rules.individual.minimumAge;
      const at = (year: number, month: number, day: number) => ({ ...customer, profile: { ...(customer.profile as IndividualProfile), dateOfBirth: { year, month, day } } });
      // Turns `min` today: old enough. Turns `min` tomorrow: too young.
      expect(countryViolations(at(2026 - min, 3, 15), NOW)).toEqual([]);
      expect(countryViolations(at(2026 - min, 3, 16), NOW)).toEqual([
        { field: "customer.individual.date_of_birth", ruleId: "age.minimum", message: expect.stringContaining(`at least ${min} years old`) },
      ]);
    });

    it("catches a national id type the country does not accept", () => {
      const other = country === "US" ? "GB_NINO" : "US_SSN";
      const c = { ...customer, profile: { ...(customer.profile as IndividualProfile), nationalId: sealed(other) } };
      expect(countryViolations(c, NOW)).toEqual([{ field: "customer.individual.national_id.type", ruleId: "national_id.type_country", message: expect.any(String) }]);
    });
  } else {
    it("catches a tax id type the country does not accept", () => {
      const other = country === "US" ? "GB_VAT" : "US_EIN";
      const c = { ...customer, profile: { ...(customer.profile as BusinessProfile), taxId: sealed(other) } };
      expect(countryViolations(c, NOW)).toEqual([{ field: "customer.business.tax_id.type", ruleId: "tax_id.type_country", message: expect.any(String) }]);
    });

    if (rules.business.registrationNumber !== null) {
      it("catches a registry number not in the register's format", () => {
        const c = { ...customer, profile: { ...(customer.profile as BusinessProfile), registrationNumber: "??" } };
        expect(countryViolations(c, NOW)).toEqual([
          { field: "customer.business.registration_number", ruleId: "registration_number.format", message: expect.stringContaining(rules.name) },
        ]);
      });
    }

    const threshold = rules.business.beneficialOwnerThresholdBasisPoints;
    const withReps = (reps: Representative[]) => ({ ...customer, profile: { ...(customer.profile as BusinessProfile), representatives: reps } });
    const boDue = (reps: Representative[]) =>
      evaluateRequirements(withReps(reps), [], NOW).currentlyDue.filter((r) => r.reason === "BENEFICIAL_OWNER_REQUIRED");

    it("needs at least one director or beneficial owner", () => {
      expect(boDue([representative({ roles: ["authorized_signer"], ownershipBasisPoints: 0 })])).toEqual([
        { field: "business.representatives", reason: "BENEFICIAL_OWNER_REQUIRED", description: expect.stringContaining("director or beneficial_owner") },
      ]);
      expect(boDue([representative({ roles: ["director"], ownershipBasisPoints: 0 })])).toEqual([]);
    });

    it(`needs the beneficial_owner role on whoever owns ${threshold / 100} % or more`, () => {
      fc.assert(
        fc.property(fc.integer({ min: 0, max: 10_000 }), (bp) => {
          const due = boDue([representative({ roles: ["director"], ownershipBasisPoints: 0 }), representative({ roles: ["controller"], ownershipBasisPoints: bp })]);
          expect(due.length).toBe(bp >= threshold ? 1 : 0);
        }),
      );
      expect(boDue([representative({ roles: ["director"], ownershipBasisPoints: threshold })])[0]?.description).toContain("representatives[0]");
      expect(boDue([representative({ roles: ["beneficial_owner"], ownershipBasisPoints: threshold })])).toEqual([]);
    });
  }
});

describe("evaluateRequirements outside the table", () => {
  const customer = { ...completeIndividual("GB"), countryCode: "JP", address: null, emailVerified: false };

  it("a country without rules has only contact and tenant requirements", () => {
    expect(evaluateRequirements(customer, ["address", "individual.occupation", "business.tax_id", "no.such_path"], NOW)).toEqual({
      currentlyDue: [
        { field: "address", reason: "FIELD_REQUIRED_BY_TENANT", description: "the tenant requires an address" },
        { field: "email", reason: "EMAIL_NOT_VERIFIED", description: "verify the email address" },
      ],
      eventuallyDue: [],
    });
    expect(countryViolations(customer, NOW)).toEqual([]);
  });

  it("is deterministic whatever the tenant's order", () => {
    fc.assert(
      fc.property(fc.shuffledSubarray(["address", "external_id", "individual.middle_name", "address.line2", "metadata", "email"]), (tenant) => {
        const a = evaluateRequirements(customer, tenant, NOW);
        const b = evaluateRequirements(customer, [...tenant].reverse(), NOW);
        expect(a).toEqual(b);
        const f = fields(a.currentlyDue);
        expect(f).toEqual([...f].sort());
        expect(new Set(f).size).toBe(f.length);
      }),
    );
  });

  it("knows every changeable path of Customer a tenant may require", () => {
    for (const p of ["email", "phone_number", "external_id", "metadata", "address.line2", "individual.middle_name", "business.website", "business.trading_name"]) {
      expect(isRequirementPath(p), p).toBe(true);
    }
    expect(isRequirementPath("status")).toBe(false);
    expect(isRequirementPath("constructor")).toBe(false);
  });
});

describe("countryViolations details", () => {
  it("checks a postal code against the ADDRESS's country, not the customer's", () => {
    const c = completeIndividual("GB");
    const inFrance = { ...c, address: { ...c.address!, countryCode: "FR", postalCode: "SW1A 1AA" } };
    expect(countryViolations(inFrance, NOW)).toEqual([{ field: "customer.address.postal_code", ruleId: "postal_code.format", message: "is not a valid France postal code" }]);
    const inJapan = { ...c, address: { ...c.address!, countryCode: "JP", postalCode: "100-0001" } };
    expect(countryViolations(inJapan, NOW)).toEqual([]);
  });

  it("checks the registry number against the incorporation country when there is one", () => {
    const c = completeBusiness("GB");
    const irish = { ...c, profile: { ...(c.profile as BusinessProfile), incorporationCountry: "IE", registrationNumber: "123456" } };
    expect(countryViolations(irish, NOW)).toEqual([]);
    const bad = { ...c, profile: { ...(c.profile as BusinessProfile), incorporationCountry: "IE", registrationNumber: "00445790" } };
    expect(countryViolations(bad, NOW).map((v) => v.field)).toEqual(["customer.business.registration_number"]);
  });

  it("reports several violations together", () => {
    const c = completeIndividual("IN");
    const p = c.profile as IndividualProfile;
    const got = countryViolations(
      { ...c, phoneNumber: localPhone("GB"), address: { ...c.address!, postalCode: "0" }, profile: { ...p, dateOfBirth: { year: 2015, month: 1, day: 1 }, nationalId: sealed("IN_GSTIN") } },
      NOW,
    );
    expect(got.map((v) => v.field)).toEqual([
      "customer.address.postal_code",
      "customer.phone_number",
      "customer.individual.date_of_birth",
      "customer.individual.national_id.type",
    ]);
  });
});

describe("identifierViolations", () => {
  it("passes a valid value", () => {
    expect(identifierViolations("individual.national_id", "BR_CPF", "529.982.247-25")).toEqual([]);
    expect(identifierViolations("business.tax_id", "BR_CNPJ", "11.222.333/0001-81")).toEqual([]);
  });

  it("reports a value failing the scheme on .value with the scheme's message", () => {
    expect(identifierViolations("individual.national_id", "BR_CPF", "529.982.247-26")).toEqual([
      { field: "customer.individual.national_id.value", ruleId: "identifier.valid", message: "check digits are wrong" },
    ]);
    expect(identifierViolations("business.tax_id", "DE_USTID", "DE12")).toEqual([
      { field: "customer.business.tax_id.value", ruleId: "identifier.valid", message: "must be DE and 9 digits" },
    ]);
  });

  it("reports an unknown type, or a type for the other holder, on .type", () => {
    expect(identifierViolations("individual.national_id", "XX_NOPE", "1")).toEqual([
      { field: "customer.individual.national_id.type", ruleId: "identifier.type_known", message: "is not a known identifier type" },
    ]);
    expect(identifierViolations("individual.national_id", "US_EIN", "12-3456789")).toEqual([
      { field: "customer.individual.national_id.type", ruleId: "identifier.holder", message: "US_EIN identifies a business: send it as business.tax_id" },
    ]);
  });
});

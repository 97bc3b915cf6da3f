// Pure domain rules of src/customers/customer.ts: calendar dates, business-rule checks, updates
// and their effect on the verified flags, the audit trail's changed-field names, links, etags.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { AppError } from "../../src/errors.js";
import {
  MAX_LINKS,
  addLink,
  changedFields,
  checkDetails,
  checkEtag,
  isRealDate,
  normaliseEmail,
  registerCustomer,
  removeLink,
  updateCustomer,
  type BusinessProfile,
  type Customer,
  type CustomerDetails,
  type IndividualProfile,
  type Representative,
} from "../../src/customers/customer.js";

const NOW = new Date("2026-03-15T12:00:00.000Z");
const LATER = new Date("2026-03-15T12:00:05.000Z");
const TENANT = "11111111-1111-4111-8111-111111111111";
const ID = "22222222-2222-4222-8222-222222222222";
const UK_MOBILE = "+447911123456";
const US_NUMBER = "+14155550123";

function individual(over: Partial<IndividualProfile> = {}): IndividualProfile {
  return {
    kind: "individual",
    givenName: "Ada",
    middleName: "",
    familyName: "Lovelace",
    dateOfBirth: { year: 1990, month: 12, day: 10 },
    nationality: "GB",
    taxResidencyCountry: "GB",
    nationalId: null,
    occupation: "",
    ...over,
  };
}

function representative(over: Partial<Representative> = {}): Representative {
  return {
    id: "33333333-3333-4333-8333-333333333333",
    givenName: "Grace",
    familyName: "Hopper",
    dateOfBirth: null,
    nationality: "US",
    email: "",
    roles: ["director"],
    ownershipBasisPoints: 0,
    title: "",
    ...over,
  };
}

function business(over: Partial<BusinessProfile> = {}): BusinessProfile {
  return {
    kind: "business",
    legalName: "Analytical Engines Ltd",
    tradingName: "",
    entityType: "llc",
    registrationNumber: "01234567",
    taxId: null,
    incorporationCountry: "GB",
    incorporationDate: { year: 1999, month: 1, day: 4 },
    website: "",
    industry: "",
    representatives: [],
    ...over,
  };
}

function details(over: Partial<CustomerDetails> = {}): CustomerDetails {
  return {
    profile: individual(),
    email: "ada@example.com",
    phoneNumber: UK_MOBILE,
    countryCode: "GB",
    address: { line1: "12 St James's Square", line2: "", city: "London", region: "", postalCode: "SW1Y 4JH", countryCode: "GB" },
    externalId: "crm-1",
    metadata: { segment: "retail" },
    ...over,
  };
}

function customer(over: Partial<Customer> = {}): Customer {
  return { ...registerCustomer(TENANT, ID, details(), NOW), ...over };
}

function thrown(fn: () => unknown): AppError {
  try {
    fn();
  } catch (err) {
    if (err instanceof AppError) return err;
    throw err;
  }
  throw new Error("expected an AppError, nothing was thrown");
}

const rules = (d: CustomerDetails, now = NOW) => checkDetails(d, now).map((v) => [v.field, v.ruleId]);

describe("isRealDate", () => {
  it.each([
    [{ year: 2024, month: 2, day: 29 }, true], // leap year
    [{ year: 2023, month: 2, day: 29 }, false],
    [{ year: 2000, month: 2, day: 29 }, true], // divisible by 400
    [{ year: 1900, month: 2, day: 29 }, false], // century, not by 400
    [{ year: 2023, month: 2, day: 28 }, true],
    [{ year: 2023, month: 4, day: 31 }, false],
    [{ year: 2023, month: 12, day: 31 }, true],
    [{ year: 2023, month: 1, day: 1 }, true],
    [{ year: 2023, month: 13, day: 1 }, false],
    [{ year: 2023, month: 0, day: 1 }, false],
    [{ year: 2023, month: 1, day: 0 }, false],
    [{ year: 2023, month: 1, day: 32 }, false],
    [{ year: 2023, month: -1, day: 10 }, false],
  ])("%j → %s", (d, ok) => {
    expect(isRealDate(d)).toBe(ok);
  });
});

describe("checkDetails", () => {
  it("valid individual and business details have no violations", () => {
    expect(checkDetails(details(), NOW)).toEqual([]);
    expect(checkDetails(details({ phoneNumber: null }), NOW)).toEqual([]);
    expect(checkDetails(details({ phoneNumber: US_NUMBER }), NOW)).toEqual([]);
    expect(checkDetails(details({ profile: business({ representatives: [representative()] }) }), NOW)).toEqual([]);
  });

  it("date of birth: today is fine, tomorrow is in the future", () => {
    expect(rules(details({ profile: individual({ dateOfBirth: { year: 2026, month: 3, day: 15 } }) }))).toEqual([]);
    expect(rules(details({ profile: individual({ dateOfBirth: { year: 2026, month: 3, day: 16 } }) }))).toEqual([
      ["customer.individual.date_of_birth", "date.not_future"],
    ]);
    expect(rules(details({ profile: individual({ dateOfBirth: { year: 2027, month: 1, day: 1 } }) }))).toEqual([
      ["customer.individual.date_of_birth", "date.not_future"],
    ]);
  });

  it("date of birth: 1900 or later", () => {
    expect(rules(details({ profile: individual({ dateOfBirth: { year: 1900, month: 1, day: 1 } }) }))).toEqual([]);
    expect(rules(details({ profile: individual({ dateOfBirth: { year: 1899, month: 12, day: 31 } }) }))).toEqual([
      ["customer.individual.date_of_birth", "date.min_year"],
    ]);
  });

  it("date of birth: not a calendar date", () => {
    expect(rules(details({ profile: individual({ dateOfBirth: { year: 2023, month: 2, day: 29 } }) }))).toEqual([
      ["customer.individual.date_of_birth", "date.valid"],
    ]);
    expect(rules(details({ profile: individual({ dateOfBirth: { year: 1990, month: 13, day: 1 } }) }))).toEqual([
      ["customer.individual.date_of_birth", "date.valid"],
    ]);
  });

  it("no date of birth is fine", () => {
    expect(rules(details({ profile: individual({ dateOfBirth: null }) }))).toEqual([]);
  });

  it.each(["+44123", "+447", "+10000000000", "+999123456789", "not a number"])("invalid phone number %s", (phone) => {
    expect(rules(details({ phoneNumber: phone }))).toEqual([["customer.phone_number", "phone_number.valid"]]);
  });

  it.each([UK_MOBILE, "+447911120000", "+14155551234"])("valid phone number %s", (phone) => {
    expect(rules(details({ phoneNumber: phone }))).toEqual([]);
  });

  it("ownership: a total of exactly 10000 is fine, 10001 is not", () => {
    const reps = (a: number, b: number) => [
      representative({ ownershipBasisPoints: a }),
      representative({ id: "44444444-4444-4444-8444-444444444444", ownershipBasisPoints: b }),
    ];
    expect(rules(details({ profile: business({ representatives: reps(5000, 5000) }) }))).toEqual([]);
    const v = checkDetails(details({ profile: business({ representatives: reps(5000, 5001) }) }), NOW);
    expect(v.map((x) => [x.field, x.ruleId])).toEqual([["customer.business.representatives", "representatives.ownership_total"]]);
    expect(v[0]!.message).toContain("10001");
  });

  it("a representative's date of birth is checked at its own index", () => {
    const reps = [representative(), representative({ id: "44444444-4444-4444-8444-444444444444", dateOfBirth: { year: 2030, month: 1, day: 1 } })];
    expect(rules(details({ profile: business({ representatives: reps }) }))).toEqual([
      ["customer.business.representatives.1.date_of_birth", "date.not_future"],
    ]);
    const old = [representative({ dateOfBirth: { year: 1850, month: 1, day: 1 } })];
    expect(rules(details({ profile: business({ representatives: old }) }))).toEqual([
      ["customer.business.representatives.0.date_of_birth", "date.min_year"],
    ]);
  });

  it("incorporation date: 1600 or later, not in the future", () => {
    expect(rules(details({ profile: business({ incorporationDate: { year: 1600, month: 1, day: 1 } }) }))).toEqual([]);
    expect(rules(details({ profile: business({ incorporationDate: { year: 1599, month: 12, day: 31 } }) }))).toEqual([
      ["customer.business.incorporation_date", "date.min_year"],
    ]);
    expect(rules(details({ profile: business({ incorporationDate: { year: 2026, month: 3, day: 16 } }) }))).toEqual([
      ["customer.business.incorporation_date", "date.not_future"],
    ]);
  });

  it("reports every broken rule at once, under the given path prefix", () => {
    const d = details({
      phoneNumber: "+44123",
      profile: business({
        representatives: [representative({ ownershipBasisPoints: 10_000, dateOfBirth: { year: 2030, month: 1, day: 1 } }), representative({ ownershipBasisPoints: 1 })],
      }),
    });
    expect(checkDetails(d, NOW, "x").map((v) => [v.field, v.ruleId]).sort()).toEqual(
      [
        ["x.phone_number", "phone_number.valid"],
        ["x.business.representatives.0.date_of_birth", "date.not_future"],
        ["x.business.representatives", "representatives.ownership_total"],
      ].sort(),
    );
  });

  it("property: ownership_total is reported iff the shares add up to more than 10000", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 10_000 }), { maxLength: 25 }), (shares) => {
        const reps = shares.map((s, i) =>
          representative({ id: `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`, ownershipBasisPoints: s }),
        );
        const v = checkDetails(details({ profile: business({ representatives: reps }) }), NOW);
        const total = shares.reduce((a, b) => a + b, 0);
        const reported = v.filter((x) => x.ruleId === "representatives.ownership_total");
        expect(reported.length).toBe(total > 10_000 ? 1 : 0);
        if (reported.length === 1) expect(reported[0]!.field).toBe("customer.business.representatives");
        // Nothing else is wrong with these details.
        expect(v.length).toBe(reported.length);
      }),
      { numRuns: 500 },
    );
  });
});

describe("registerCustomer", () => {
  it("a new customer is PENDING, unverified, version 1, email in lower case", () => {
    const c = registerCustomer(TENANT, ID, details({ email: "  Ada.Lovelace@Example.COM " }), NOW);
    expect(c).toMatchObject({
      tenantId: TENANT,
      id: ID,
      type: "individual",
      status: "pending",
      email: "ada.lovelace@example.com",
      emailVerified: false,
      phoneVerified: false,
      version: 1,
      links: [],
      statusReason: null,
      createTime: NOW,
      updateTime: NOW,
      statusTime: NOW,
    });
    expect(registerCustomer(TENANT, ID, details({ profile: business() }), NOW).type).toBe("business");
  });

  it("a broken rule is INVALID_ARGUMENT with the violations", () => {
    const e = thrown(() => registerCustomer(TENANT, ID, details({ phoneNumber: "+44123" }), NOW));
    expect(e.code).toBe("INVALID_ARGUMENT");
    expect(e.violations.map((v) => v.field)).toEqual(["customer.phone_number"]);
  });

  it("normaliseEmail trims and lower-cases", () => {
    expect(normaliseEmail(" A@B.Example ")).toBe("a@b.example");
  });
});

describe("updateCustomer", () => {
  const verified = () => customer({ emailVerified: true, emailVerifyTime: NOW, phoneVerified: true, phoneVerifyTime: NOW });

  it("a changed email clears emailVerified, keeps phoneVerified", () => {
    const next = updateCustomer(verified(), details({ email: "countess@example.com" }), LATER);
    expect(next).toMatchObject({ email: "countess@example.com", emailVerified: false, emailVerifyTime: null, phoneVerified: true, phoneVerifyTime: NOW });
  });

  it("the same email in other case (or padded) keeps emailVerified", () => {
    const next = updateCustomer(verified(), details({ email: " ADA@Example.com" }), LATER);
    expect(next).toMatchObject({ email: "ada@example.com", emailVerified: true, emailVerifyTime: NOW });
  });

  it("a changed phone number clears phoneVerified, keeps emailVerified", () => {
    const next = updateCustomer(verified(), details({ phoneNumber: US_NUMBER }), LATER);
    expect(next).toMatchObject({ phoneNumber: US_NUMBER, phoneVerified: false, phoneVerifyTime: null, emailVerified: true });
  });

  it("removing the phone number clears phoneVerified", () => {
    expect(updateCustomer(verified(), details({ phoneNumber: null }), LATER).phoneVerified).toBe(false);
  });

  it("an unchanged phone number keeps phoneVerified; version +1 and update_time move, create_time does not", () => {
    const c = verified();
    const next = updateCustomer(c, details({ profile: individual({ familyName: "King" }) }), LATER);
    expect(next).toMatchObject({ phoneVerified: true, emailVerified: true, version: c.version + 1, updateTime: LATER, createTime: NOW });
    expect(next.profile).toMatchObject({ familyName: "King" });
    expect(c.profile).toMatchObject({ familyName: "Lovelace" }); // not changed in place
  });

  it("a closed customer cannot be updated: FAILED_PRECONDITION, CUSTOMER_CLOSED", () => {
    const e = thrown(() => updateCustomer(customer({ status: "closed" }), details({ email: "new@example.com" }), LATER));
    expect({ code: e.code, reason: e.reason }).toEqual({ code: "FAILED_PRECONDITION", reason: "CUSTOMER_CLOSED" });
  });

  it("the type cannot change: INVALID_ARGUMENT on customer.type", () => {
    const e = thrown(() => updateCustomer(customer(), details({ profile: business() }), LATER));
    expect(e.code).toBe("INVALID_ARGUMENT");
    expect(e.violations.map((v) => [v.field, v.ruleId])).toEqual([["customer.type", "type.immutable"]]);
  });

  it("business rules apply to updates too", () => {
    const e = thrown(() => updateCustomer(customer(), details({ profile: individual({ dateOfBirth: { year: 2030, month: 1, day: 1 } }) }), LATER));
    expect(e.code).toBe("INVALID_ARGUMENT");
    expect(e.violations.map((v) => v.field)).toEqual(["customer.individual.date_of_birth"]);
  });
});

describe("changedFields", () => {
  const before = customer();
  const after = (d: Partial<CustomerDetails>) => updateCustomer(before, details(d), LATER);

  it("names the changed top-level fields in snake case", () => {
    expect(changedFields(before, after({ email: "new@example.com" }))).toEqual(["email"]);
    expect(changedFields(before, after({ phoneNumber: US_NUMBER }))).toEqual(["phone_number"]);
    expect(changedFields(before, after({ countryCode: "IE" }))).toEqual(["country_code"]);
    expect(changedFields(before, after({ externalId: "crm-2" }))).toEqual(["external_id"]);
    expect(changedFields(before, after({ metadata: { segment: "vip" } }))).toEqual(["metadata"]);
    expect(changedFields(before, after({ address: null }))).toEqual(["address"]);
  });

  it("names changed profile fields with the profile prefix", () => {
    expect(changedFields(before, after({ profile: individual({ familyName: "King" }) }))).toEqual(["individual.family_name"]);
    expect(changedFields(before, after({ profile: individual({ dateOfBirth: { year: 1991, month: 1, day: 1 } }) }))).toEqual([
      "individual.date_of_birth",
    ]);
    expect(
      changedFields(before, after({ email: "x@example.com", profile: individual({ givenName: "Augusta", taxResidencyCountry: "IE" }) })).sort(),
    ).toEqual(["email", "individual.given_name", "individual.tax_residency_country"]);
    const b = customer({ type: "business", profile: business() });
    const b2 = updateCustomer(b, { ...details(), profile: business({ legalName: "Difference Engines Ltd", representatives: [representative()] }) }, LATER);
    expect(changedFields(b, b2).sort()).toEqual(["business.legal_name", "business.representatives"]);
  });

  it("an identical update changes nothing", () => {
    expect(changedFields(before, after({}))).toEqual([]);
    // An email differing only in case is the same email.
    expect(changedFields(before, after({ email: "ADA@example.com" }))).toEqual([]);
  });

  it("never contains values", () => {
    const secretish = { email: "very.private@example.com", phoneNumber: US_NUMBER, profile: individual({ familyName: "Zzyzx", occupation: "spy" }) };
    const names = changedFields(before, after(secretish));
    expect(names.sort()).toEqual(["email", "individual.family_name", "individual.occupation", "phone_number"]);
    for (const n of names) {
      expect(n).toMatch(/^[a-z_]+(\.[a-z_]+)?$/);
      for (const value of ["very.private", "Zzyzx", "spy", US_NUMBER, "4155550123"]) expect(n).not.toContain(value);
    }
  });
});

describe("links", () => {
  it("addLink appends with link_time, version +1; the same kind and id twice is ALREADY_EXISTS", () => {
    const c = customer();
    const one = addLink(c, "wallet", "w-1", LATER);
    expect(one.links).toEqual([{ kind: "wallet", externalId: "w-1", linkTime: LATER }]);
    expect(one.version).toBe(c.version + 1);
    expect(c.links).toEqual([]);
    const e = thrown(() => addLink(one, "wallet", "w-1", LATER));
    expect({ code: e.code, reason: e.reason }).toEqual({ code: "ALREADY_EXISTS", reason: "LINK_ALREADY_EXISTS" });
    // Same external id under another kind is another link.
    expect(addLink(one, "card", "w-1", LATER).links).toHaveLength(2);
  });

  it(`at most ${MAX_LINKS} links: FAILED_PRECONDITION, TOO_MANY_LINKS`, () => {
    let c = customer();
    for (let i = 0; i < MAX_LINKS; i++) c = addLink(c, "account", `a-${i}`, LATER);
    expect(c.links).toHaveLength(MAX_LINKS);
    const e = thrown(() => addLink(c, "account", "one-too-many", LATER));
    expect({ code: e.code, reason: e.reason }).toEqual({ code: "FAILED_PRECONDITION", reason: "TOO_MANY_LINKS" });
  });

  it("a closed customer cannot be linked: FAILED_PRECONDITION, CUSTOMER_CLOSED", () => {
    const e = thrown(() => addLink(customer({ status: "closed" }), "kyc_case", "k-1", LATER));
    expect({ code: e.code, reason: e.reason }).toEqual({ code: "FAILED_PRECONDITION", reason: "CUSTOMER_CLOSED" });
  });

  it("removeLink removes exactly that link; an unknown one is NOT_FOUND, LINK_NOT_FOUND", () => {
    const c = addLink(addLink(customer(), "wallet", "w-1", NOW), "card", "w-1", NOW);
    const removed = removeLink(c, "wallet", "w-1", LATER);
    expect(removed.links.map((l) => [l.kind, l.externalId])).toEqual([["card", "w-1"]]);
    expect(removed.version).toBe(c.version + 1);
    for (const [kind, id] of [["wallet", "w-1"], ["card", "w-2"], ["kyc_case", "w-1"]] as const) {
      const e = thrown(() => removeLink(removed, kind, id, LATER));
      expect({ code: e.code, reason: e.reason }).toEqual({ code: "NOT_FOUND", reason: "LINK_NOT_FOUND" });
    }
  });
});

describe("checkEtag", () => {
  it("an empty etag or the current one passes", () => {
    const c = customer({ version: 7 });
    expect(() => checkEtag(c, "")).not.toThrow();
    expect(() => checkEtag(c, "7")).not.toThrow();
  });

  it.each(["6", "8", "07", "abc", " 7"])("a stale or foreign etag %j is ABORTED, ETAG_MISMATCH, with the current etag", (etag) => {
    const e = thrown(() => checkEtag(customer({ version: 7 }), etag));
    expect({ code: e.code, reason: e.reason, metadata: e.metadata }).toEqual({
      code: "ABORTED",
      reason: "ETAG_MISMATCH",
      metadata: { current_etag: "7" },
    });
  });
});

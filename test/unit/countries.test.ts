// The country table of src/compliance/countries.ts: coverage, internal consistency (identifier
// types exist and match the holder, paths are known and of the right customer type), sources,
// thresholds, and postal-code / registry-number formats against real-world examples.
import { describe, expect, it } from "vitest";
import { COUNTRY_RULES, SUPPORTED_COUNTRIES, rulesFor } from "../../src/compliance/countries.js";
import { IDENTIFIERS } from "../../src/compliance/identifiers.js";
import { REQUIREMENT_PATHS } from "../../src/compliance/requirements.js";

const MUST_HAVE = ["US", "GB", "DE", "FR", "NL", "ES", "IT", "IE", "CH", "SE", "PL", "AE", "SG", "NG", "KE", "ZA", "IN", "BR", "MX", "CA", "AU"];

/** One real-looking valid and one invalid postal code per country with postal codes. */
const POSTAL: Record<string, { valid: string[]; invalid: string[] } | null> = {
  US: { valid: ["94105", "94105-1234"], invalid: ["9410", "94105-12"] },
  GB: { valid: ["SW1A 1AA", "EC1A1BB", "m1 1ae", "GIR 0AA"], invalid: ["SW1A", "12345"] },
  DE: { valid: ["10115"], invalid: ["1011", "D-10115"] },
  FR: { valid: ["75008", "97400"], invalid: ["7500", "75 008"] },
  NL: { valid: ["1012 JS", "1012JS"], invalid: ["0123 AB", "1012 SS"] },
  ES: { valid: ["28013", "08001"], invalid: ["53001", "2801"] },
  IT: { valid: ["00184"], invalid: ["0018"] },
  IE: { valid: ["D02 X285", "D6W 1234", "A65F4E2"], invalid: ["D02", "B12 3456"] },
  CH: { valid: ["8001"], invalid: ["0800", "80010"] },
  SE: { valid: ["114 55", "11455"], invalid: ["01455", "1145"] },
  PL: { valid: ["00-950"], invalid: ["00950", "0-950"] },
  AE: null,
  SG: { valid: ["238859"], invalid: ["23885"] },
  NG: { valid: ["100001"], invalid: ["10000"] },
  KE: { valid: ["00100"], invalid: ["0010"] },
  ZA: { valid: ["2001"], invalid: ["200"] },
  IN: { valid: ["110001", "110 001"], invalid: ["011001", "11001"] },
  BR: { valid: ["01310-100", "01310100"], invalid: ["0131-100"] },
  MX: { valid: ["06600"], invalid: ["0660"] },
  CA: { valid: ["K1A 0B1", "m5v3l9"], invalid: ["D1A 0B1", "K1A 0B"] },
  AU: { valid: ["2000"], invalid: ["20000"] },
};

/** Registry numbers, for countries whose table has a format. */
const REGISTRATION: Record<string, { valid: string[]; invalid: string[] }> = {
  GB: { valid: ["00445790", "SC123456", "R0000123"], invalid: ["445790", "SC12345"] },
  DE: { valid: ["HRB 12345", "HRA 1234 B", "hrb12345"], invalid: ["12345", "HRX 1"] },
  FR: { valid: ["356 000 000", "356000000"], invalid: ["35600000"] },
  NL: { valid: ["69599084"], invalid: ["6959908"] },
  IT: { valid: ["00743110157", "MI-1234567"], invalid: ["MI-12345678"] },
  IE: { valid: ["123456"], invalid: ["12345678", "IE123"] },
  CH: { valid: ["CHE-109.322.551", "CHE109322551"], invalid: ["109.322.551"] },
  SE: { valid: ["556012-5790", "5560125790"], invalid: ["55601-25790"] },
  PL: { valid: ["0000012345"], invalid: ["12345"] },
  SG: { valid: ["201912345K", "53012345D", "T09LL0001B"], invalid: ["2019123456"] },
  NG: { valid: ["RC 123456", "RC123456", "BN 1234567"], invalid: ["XY 123"] },
  KE: { valid: ["PVT-AAA1BB2", "CPR/2010/12345"], invalid: ["12345"] },
  ZA: { valid: ["2019/123456/07"], invalid: ["2019/12345/07"] },
  IN: { valid: ["L17110MH1973PLC019786", "AAB-1234"], invalid: ["L17110MH1973PLC01978"] },
  AU: { valid: ["000 000 019", "123456789"], invalid: ["12345678"] },
};

describe("COUNTRY_RULES", () => {
  it("covers at least 15 countries, including every country the service must support", () => {
    expect(Object.keys(COUNTRY_RULES).length).toBeGreaterThanOrEqual(15);
    for (const c of MUST_HAVE) expect(rulesFor(c), c).toBeDefined();
  });

  it("SUPPORTED_COUNTRIES lists the table's countries, sorted", () => {
    expect([...SUPPORTED_COUNTRIES]).toEqual(Object.keys(COUNTRY_RULES).sort());
  });

  it("rulesFor knows nothing outside the table, prototype keys included", () => {
    for (const c of ["JP", "gb", "", "constructor", "__proto__"]) expect(rulesFor(c)).toBeUndefined();
  });
});

describe.each(SUPPORTED_COUNTRIES.map((c) => [c]))("%s rules", (country) => {
  const r = rulesFor(country)!;

  it("is keyed by its ISO code and names its sources", () => {
    expect(r.country).toBe(country);
    expect(country).toMatch(/^[A-Z]{2}$/);
    expect(r.name.length).toBeGreaterThan(2);
    expect(r.sources.length).toBeGreaterThan(0);
    for (const s of r.sources) expect(s.length).toBeGreaterThan(10);
  });

  it("accepts identifier types that exist, are issued by the country and match the holder", () => {
    expect(r.individual.nationalIdTypes.length).toBeGreaterThan(0);
    expect(r.business.taxIdTypes.length).toBeGreaterThan(0);
    for (const t of r.individual.nationalIdTypes) {
      expect(IDENTIFIERS[t], t).toBeDefined();
      expect(IDENTIFIERS[t]!.holder, t).toBe("individual");
      expect(IDENTIFIERS[t]!.country, t).toBe(country);
    }
    for (const t of r.business.taxIdTypes) {
      expect(IDENTIFIERS[t], t).toBeDefined();
      expect(IDENTIFIERS[t]!.holder, t).toBe("business");
      expect(IDENTIFIERS[t]!.country, t).toBe(country);
    }
  });

  it("has a beneficial-ownership threshold in basis points and a plausible minimum age", () => {
    const t = r.business.beneficialOwnerThresholdBasisPoints;
    expect(Number.isInteger(t)).toBe(true);
    expect(t).toBeGreaterThanOrEqual(0);
    expect(t).toBeLessThanOrEqual(10_000);
    expect(r.individual.minimumAge).toBeGreaterThanOrEqual(16);
    expect(r.individual.minimumAge).toBeLessThanOrEqual(21);
  });

  it.each(["individual", "business"] as const)("lists only known %s paths, each once, required and eventually due apart", (type) => {
    const { required, eventuallyDue } = r[type];
    for (const p of [...required, ...eventuallyDue]) {
      const spec = REQUIREMENT_PATHS[p];
      expect(spec, p).toBeDefined();
      expect([null, type], p).toContain(spec!.holder);
    }
    expect(new Set(required).size).toBe(required.length);
    expect(new Set(eventuallyDue).size).toBe(eventuallyDue.length);
    expect(required.filter((p) => eventuallyDue.includes(p))).toEqual([]);
    expect(required).toContain("address");
    if (r.postalCode === null) expect([...required, ...eventuallyDue]).not.toContain("address.postal_code");
  });

  it("requires a date of birth for individuals and representatives for businesses", () => {
    expect(r.individual.required).toContain("individual.date_of_birth");
    expect(r.business.required).toContain("business.representatives");
  });

  const postal = POSTAL[country];
  it("has postal-code examples in the test table", () => expect(postal).not.toBeUndefined());
  if (postal === null) {
    it("has no postal codes", () => expect(r.postalCode).toBeNull());
  } else if (postal !== undefined) {
    it.each(postal.valid)("postal code %s is valid", (p) => expect(r.postalCode!.test(p.trim().toUpperCase())).toBe(true));
    it.each(postal.invalid)("postal code %s is invalid", (p) => expect(r.postalCode!.test(p.trim().toUpperCase())).toBe(false));
  }

  const reg = REGISTRATION[country];
  if (r.business.registrationNumber === null) {
    it("checks no registry format (and the test table has none)", () => expect(reg).toBeUndefined());
  } else {
    it("has registry-number examples in the test table", () => expect(reg).toBeDefined());
    if (reg !== undefined) {
      it.each(reg.valid)("registry number %s is valid", (v) => expect(r.business.registrationNumber!.test(v.trim().toUpperCase())).toBe(true));
      it.each(reg.invalid)("registry number %s is invalid", (v) => expect(r.business.registrationNumber!.test(v.trim().toUpperCase())).toBe(false));
    }
  }
});

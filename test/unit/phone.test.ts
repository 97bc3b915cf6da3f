// compliance/phone.ts phoneFacts: libphonenumber-js's own answer for any string, parsed once.
import fc from "fast-check";
import { parsePhoneNumberFromString } from "libphonenumber-js/max";
import { describe, expect, it } from "vitest";
import { phoneFacts } from "../../src/compliance/phone.js";

function direct(s: string) {
  const p = parsePhoneNumberFromString(s);
  return p === undefined ? undefined : { valid: p.isValid(), country: p.country, possibleCountries: p.getPossibleCountries() };
}

const SAMPLES = ["+447900000366", "+4915112345678", "+33612345678", "+12025550123", "+16135550123", "+35312345", "+999", "07900 000366", "", "+44 (0) 7900 000366"];

describe("phoneFacts (compliance/phone.ts)", () => {
  it("answers as libphonenumber-js does: valid, country, possible countries", () => {
    for (const s of SAMPLES) expect(phoneFacts(s), s).toEqual(direct(s));
    const e164ish = fc.tuple(fc.constantFrom("+1", "+44", "+49", "+33", "+353", "+61", "+7", "+"), fc.stringMatching(/^[0-9]{0,14}$/)).map(([cc, n]) => cc + n);
    fc.assert(
      fc.property(fc.oneof(e164ish, fc.string({ maxLength: 20 })), (s) => {
        expect(phoneFacts(s)).toEqual(direct(s));
        expect(phoneFacts(s)).toEqual(direct(s)); // the remembered answer too
      }),
      { numRuns: 2_000 },
    );
  });

  it("parses a number once while it is among the last ones asked about, and forgets the oldest", () => {
    const first = phoneFacts("+447911123456");
    expect(phoneFacts("+447911123456")).toBe(first); // the same frozen object: not parsed again
    expect(Object.isFrozen(first)).toBe(true);
    for (let i = 0; i < 100; i++) phoneFacts(`+4479111${String(i).padStart(5, "0")}`);
    const again = phoneFacts("+447911123456");
    expect(again).not.toBe(first); // forgotten, parsed anew
    expect(again).toEqual(first);
  });
});

// Government identifier kinds of src/compliance/identifiers.ts: documented test numbers pass and
// near-misses fail; generators that build valid numbers (random payload + check digit computed
// HERE, independently of the implementation) always pass; and, for schemes whose arithmetic
// guarantees it, every single-digit substitution is rejected.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { IDENTIFIER_TYPE_PATTERN, IDENTIFIERS, identifierKind, validateIdentifier } from "../../src/compliance/identifiers.js";

// ---------------------------------------------------------------------------------------------
// Independent check-digit arithmetic for the generators

const digits = (n: number) => fc.array(fc.integer({ min: 0, max: 9 }), { minLength: n, maxLength: n }).map((a) => a.join(""));
const letter = (alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ") => fc.constantFrom(...alphabet.split(""));
const num = (s: string, i: number) => Number(s.charAt(i));
const wsum = (s: string, weights: number[]) => weights.reduce((t, w, i) => t + w * num(s, i), 0);
const pad = (n: number, width: number) => String(n).padStart(width, "0");

/** The digit that makes payload + digit pass Luhn. */
function luhnDigit(payload: string): string {
  let sum = 0;
  [...payload].reverse().forEach((c, i) => {
    let v = Number(c) * (i % 2 === 0 ? 2 : 1);
    if (v > 9) v -= 9;
    sum += v;
  });
  return String((10 - (sum % 10)) % 10);
}

function mod11_10(payload: string): string {
  let p = 10;
  for (const c of payload) {
    let s = (Number(c) + p) % 10;
    if (s === 0) s = 10;
    p = (2 * s) % 11;
  }
  return String((11 - p) % 10);
}

/** A calendar date as YYYY, MM, DD parts (days 1-28 keep every month valid). */
const date = (minYear: number, maxYear: number) =>
  fc.record({ y: fc.integer({ min: minYear, max: maxYear }), m: fc.integer({ min: 1, max: 12 }), d: fc.integer({ min: 1, max: 28 }) });

const brDigit = (s: string, weights: number[]) => {
  let t = 0;
  weights.forEach((w, i) => (t += w * (s.charCodeAt(i) - 48)));
  const r = t % 11;
  return r < 2 ? 0 : 11 - r;
};

const GENERATORS: Record<string, fc.Arbitrary<string>> = {
  DE_STEUER_ID: fc
    .tuple(fc.shuffledSubarray([0, 1, 2, 3, 4, 5, 6, 7, 8, 9], { minLength: 9, maxLength: 9 }), fc.nat(8), fc.nat(9))
    .map(([nine, which, at]) => {
      const ten = [...nine];
      ten.splice(at, 0, nine[which] ?? 0); // exactly one digit twice, never three in a row
      return ten.join("");
    })
    .filter((ten) => !ten.startsWith("0"))
    .map((ten) => ten + mod11_10(ten)),
  NL_BSN: digits(8)
    .map((p) => ({ p, c: wsum(p, [9, 8, 7, 6, 5, 4, 3, 2]) % 11 }))
    .filter(({ p, c }) => c !== 10 && p !== "00000000")
    .map(({ p, c }) => p + c),
  BR_CPF: digits(9)
    .filter((p) => !/^(\d)\1{8}$/.test(p))
    .map((p) => {
      const d1 = brDigit(p, [10, 9, 8, 7, 6, 5, 4, 3, 2]);
      return p + d1 + brDigit(p + d1, [11, 10, 9, 8, 7, 6, 5, 4, 3, 2]);
    }),
  BR_CNPJ: fc
    .oneof(digits(12), fc.array(letter("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"), { minLength: 12, maxLength: 12 }).map((a) => a.join("")))
    .filter((p) => !/^(\d)\1{11}$/.test(p))
    .map((p) => {
      const d1 = brDigit(p, [5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2]);
      return p + d1 + brDigit(p + d1, [6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2]);
    }),
  ES_DNI: digits(8).map((p) => p + "TRWAGMYFPDXBNJZSQVHLCKE".charAt(Number(p) % 23)),
  ES_NIE: fc
    .tuple(fc.constantFrom("X", "Y", "Z"), digits(7))
    .map(([x, p]) => x + p + "TRWAGMYFPDXBNJZSQVHLCKE".charAt(Number("XYZ".indexOf(x) + p) % 23)),
  IT_CODICE_FISCALE: fc
    .tuple(
      fc.array(letter(), { minLength: 6, maxLength: 6 }),
      digits(2),
      letter("ABCDEHLMPRST"),
      fc.integer({ min: 1, max: 28 }),
      fc.boolean(),
      letter(),
      digits(3),
    )
    .map(([name, yy, month, day, female, place, placeDigits]) => {
      const body = `${name.join("")}${yy}${month}${pad(day + (female ? 40 : 0), 2)}${place}${placeDigits}`;
      const odd = [1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24, 23];
      let sum = 0;
      [...body].forEach((c, i) => {
        const v = /\d/.test(c) ? Number(c) : c.charCodeAt(0) - 65;
        sum += i % 2 === 0 ? (odd[v] ?? 0) : v;
      });
      return body + String.fromCharCode(65 + (sum % 26));
    }),
  SE_PERSONNUMMER: fc.tuple(date(1900, 2025), digits(3)).map(([{ y, m, d }, serial]) => {
    const nine = `${pad(y % 100, 2)}${pad(m, 2)}${pad(d, 2)}${serial}`;
    return nine + luhnDigit(nine);
  }),
  PL_PESEL: fc.tuple(date(1800, 2299), digits(4)).map(([{ y, m, d }, serial]) => {
    const offset = y < 1900 ? 80 : y < 2000 ? 0 : y < 2100 ? 20 : y < 2200 ? 40 : 60;
    const ten = `${pad(y % 100, 2)}${pad(m + offset, 2)}${pad(d, 2)}${serial}`;
    return ten + String((10 - (wsum(ten, [1, 3, 7, 9, 1, 3, 7, 9, 1, 3]) % 10)) % 10);
  }),
  ZA_ID: fc.tuple(date(1920, 2019), digits(4), fc.constantFrom("0", "1")).map(([{ y, m, d }, serial, citizen]) => {
    const twelve = `${pad(y % 100, 2)}${pad(m, 2)}${pad(d, 2)}${serial}${citizen}8`;
    return twelve + luhnDigit(twelve);
  }),
  CA_SIN: digits(8).map((p) => p + luhnDigit(p)),
  FR_SIREN: digits(8).map((p) => p + luhnDigit(p)),
  US_SSN: fc
    .tuple(fc.integer({ min: 1, max: 899 }).filter((a) => a !== 666), fc.integer({ min: 1, max: 99 }), fc.integer({ min: 1, max: 9999 }))
    .map(([a, g, s]) => `${pad(a, 3)}${pad(g, 2)}${pad(s, 4)}`)
    .filter((n) => n !== "078051120" && n !== "219099999"),
  IN_PAN: fc
    .tuple(fc.array(letter(), { minLength: 3, maxLength: 3 }), letter(), digits(4), letter())
    .map(([abc, surname, four, last]) => `${abc.join("")}P${surname}${four}${last}`),
  SG_NRIC: fc.tuple(fc.constantFrom("S", "T", "F", "G"), digits(7)).map(([prefix, seven]) => {
    const r = (wsum(seven, [2, 7, 6, 5, 4, 3, 2]) + (prefix === "T" || prefix === "G" ? 4 : 0)) % 11;
    return prefix + seven + (prefix === "S" || prefix === "T" ? "JZIHGFEDCBA" : "XWUTRQPNMLK").charAt(r);
  }),
  IE_PPSN: fc.tuple(digits(7), fc.constantFrom("", "A", "B", "C", "D", "E", "F", "G", "H", "I")).map(([seven, second]) => {
    const sum = wsum(seven, [8, 7, 6, 5, 4, 3, 2]) + (second === "" ? 0 : 9 * (second.charCodeAt(0) - 64));
    return seven + "WABCDEFGHIJKLMNOPQRSTUV".charAt(sum % 23) + second;
  }),
  CH_AHV: digits(9).map((nine) => {
    const twelve = `756${nine}`;
    return twelve + String((10 - (wsum(twelve, [1, 3, 1, 3, 1, 3, 1, 3, 1, 3, 1, 3]) % 10)) % 10);
  }),
  AU_TFN: digits(8)
    .map((p) => ({ p, c: wsum(p, [1, 4, 3, 7, 5, 8, 6, 9]) % 11 }))
    .filter(({ c }) => c !== 10)
    .map(({ p, c }) => p + c),
  PL_NIP: digits(9)
    .map((p) => ({ p, c: wsum(p, [6, 5, 7, 2, 3, 4, 5, 6, 7]) % 11 }))
    .filter(({ c }) => c !== 10)
    .map(({ p, c }) => p + c),
  CH_UID: digits(8)
    .map((p) => ({ p, c: (11 - (wsum(p, [5, 4, 3, 2, 7, 6, 5, 4]) % 11)) % 11 }))
    .filter(({ c }) => c !== 10)
    .map(({ p, c }) => `CHE${p}${c}`),
  DE_USTID: digits(8).map((p) => `DE${p}${mod11_10(p)}`),
};

/** Schemes where EVERY single-digit substitution changes the check result, and why. */
const DETECTS_ALL_SINGLE_SUBSTITUTIONS: Record<string, string> = {
  DE_STEUER_ID: "ISO 7064 MOD 11,10 detects all single substitutions",
  NL_BSN: "weights 9..2 and -1 are all non-zero mod 11 (prime), so any change moves the sum mod 11",
  ES_DNI: "a change of d·10^k is never a multiple of 23 (prime), so the letter changes",
  ES_NIE: "as ES_DNI",
  IT_CODICE_FISCALE: "digit → digit moves the value by a non-zero amount < 26 in both odd and even tables",
  SE_PERSONNUMMER: "Luhn: the doubling map is a permutation of 0-9",
  PL_PESEL: "weights 1, 3, 7, 9 are coprime with 10",
  ZA_ID: "Luhn",
  CA_SIN: "Luhn",
  FR_SIREN: "Luhn",
  SG_NRIC: "weights 2..7 are non-zero mod 11 and each letter table has 11 distinct letters",
  IE_PPSN: "weights 8..2 are non-zero mod 23 and the 23 check letters are distinct",
  CH_AHV: "EAN-13 weights 1 and 3 are coprime with 10 (and the prefix 756 is checked)",
  AU_TFN: "weights 1..10 are non-zero mod 11",
  PL_NIP: "weights are non-zero mod 11 and remainder 10 is never issued",
  CH_UID: "weights are non-zero mod 11 and remainder 10 is never issued",
  DE_USTID: "ISO 7064 MOD 11,10",
};
// Not in the list, on purpose:
// - BR_CPF / BR_CNPJ: remainders 0 and 1 both give check digit 0, and the 1st CPF digit has
//   weight 11 ≡ 0 in the 2nd check digit, so some substitutions go undetected (shown below).
// - US_SSN, IN_PAN: no check digit at all.

/** Replaces the digit at `at` (an index into the digit positions) by a different digit. */
const mutation = (value: string) => {
  const positions = [...value].flatMap((c, i) => (/\d/.test(c) ? [i] : []));
  return fc.tuple(fc.constantFrom(...positions), fc.integer({ min: 1, max: 9 })).map(([i, delta]) => {
    const replaced = (Number(value.charAt(i)) + delta) % 10;
    return value.slice(0, i) + replaced + value.slice(i + 1);
  });
};

// ---------------------------------------------------------------------------------------------

const KNOWN: Record<string, { valid: string[]; invalid: string[] }> = {
  DE_STEUER_ID: { valid: ["86095742719", "47 036 892 816", "65929970489"], invalid: ["86095742718", "06095742719", "11234567891", "12345678903", "1234567890"] },
  NL_BSN: { valid: ["111222333", "123456782", "12345672"], invalid: ["111222334", "000000000", "12345678a"] },
  BR_CPF: { valid: ["529.982.247-25", "52998224725"], invalid: ["529.982.247-26", "111.111.111-11", "5299822472"] },
  BR_CNPJ: { valid: ["11.222.333/0001-81", "12.ABC.345/01DE-35"], invalid: ["11.222.333/0001-82", "00.000.000/0000-00", "12.ABC.345/01DE-36"] },
  ES_DNI: { valid: ["12345678Z", "12345678-z"], invalid: ["12345678A", "1234567Z"] },
  ES_NIE: { valid: ["X1234567L", "Y1234567X"], invalid: ["X1234567A", "W1234567L"] },
  IT_CODICE_FISCALE: { valid: ["RSSMRA85T10A562S", "rssmra85t10a562s"], invalid: ["RSSMRA85T10A562T", "RSSMRA85T99A562S", "RSSMRA85T10A56"] },
  SE_PERSONNUMMER: { valid: ["811228-9874", "19811228-9874", "8112289874"], invalid: ["811228-9875", "811328-9874"] },
  PL_PESEL: { valid: ["44051401359", "02270803624"], invalid: ["44051401358", "44153401359"] },
  ZA_ID: { valid: ["8001015009087"], invalid: ["8001015009088", "8013015009087", "8001015009387"] },
  CA_SIN: { valid: ["046 454 286", "046-454-286"], invalid: ["046 454 287", "04645428"] },
  FR_SIREN: { valid: ["356 000 000", "552 100 554"], invalid: ["356 000 001", "35600000"] },
  US_SSN: {
    valid: ["123-45-6789", "001-01-0001", "899-99-9999"],
    invalid: ["000-12-3456", "666-12-3456", "900-12-3456", "123-00-4567", "123-45-0000", "078-05-1120", "12345678"],
  },
  IN_PAN: { valid: ["ABCPE1234F", "abcpe1234f"], invalid: ["ABCCE1234F", "ABC1E1234F", "ABCPE12345"] },
  SG_NRIC: { valid: ["S1234567D", "T1234567J", "F1234567N", "G1234567X"], invalid: ["S1234567A", "X1234567D"] },
  IE_PPSN: { valid: ["1234567T", "1234567FA", "1234567 t"], invalid: ["1234567A", "1234567TZ", "123456T"] },
  CH_AHV: { valid: ["756.9217.0769.85", "7569217076985"], invalid: ["756.9217.0769.84", "757.9217.0769.85"] },
};

describe("the identifier table", () => {
  it("keys kinds by their type, a CC_SCHEME code of the issuing country, with a source and a passing example", () => {
    expect(Object.keys(IDENTIFIERS).length).toBeGreaterThanOrEqual(40);
    for (const [key, k] of Object.entries(IDENTIFIERS)) {
      expect(k.type).toBe(key);
      expect(key).toMatch(IDENTIFIER_TYPE_PATTERN);
      expect(key.slice(0, 3)).toBe(`${k.country}_`);
      expect(["individual", "business"]).toContain(k.holder);
      expect(k.label.length).toBeGreaterThan(0);
      expect(k.source.length).toBeGreaterThan(10);
      expect(validateIdentifier(key, k.example), `${key} example ${k.example}`).toMatchObject({ ok: true });
    }
  });

  it("has every kind the brief lists", () => {
    const required = [
      "US_SSN", "US_EIN", "GB_NINO", "GB_CRN", "GB_UTR", "GB_VAT", "DE_STEUER_ID", "DE_USTID", "FR_SIREN", "NL_BSN", "NL_KVK",
      "ES_DNI", "ES_NIE", "IT_CODICE_FISCALE", "IN_PAN", "BR_CPF", "BR_CNPJ", "SE_PERSONNUMMER", "PL_PESEL", "ZA_ID", "CA_SIN",
      "AU_TFN", "SG_NRIC", "MX_RFC", "MX_CURP", "IE_PPSN", "CH_AHV",
    ];
    for (const t of required) expect(identifierKind(t), t).toBeDefined();
  });

  it("knows no type outside the table, prototype keys included", () => {
    for (const t of ["XX_NOPE", "constructor", "__proto__", "toString", ""]) {
      expect(identifierKind(t)).toBeUndefined();
      expect(validateIdentifier(t, "123")).toEqual({ ok: false, message: "is not a known identifier type" });
    }
  });

  it("normalises separators and case, and returns the normalised value", () => {
    expect(validateIdentifier("BR_CPF", " 529.982.247-25 ")).toEqual({ ok: true, normalised: "52998224725" });
    expect(validateIdentifier("GB_NINO", "ab 12 34 56 c")).toEqual({ ok: true, normalised: "AB123456C" });
    expect(validateIdentifier("DE_USTID", "136 695 976")).toEqual({ ok: true, normalised: "DE136695976" });
    expect(validateIdentifier("SE_PERSONNUMMER", "19811228-9874")).toEqual({ ok: true, normalised: "8112289874" });
    expect(validateIdentifier("NL_BSN", "12345672")).toEqual({ ok: true, normalised: "012345672" });
  });

  it("explains failures in a short message", () => {
    expect(validateIdentifier("DE_STEUER_ID", "123")).toEqual({ ok: false, message: "must be 11 digits" });
    expect(validateIdentifier("DE_STEUER_ID", "86095742718")).toEqual({ ok: false, message: "check digit is wrong" });
    expect(validateIdentifier("ES_DNI", "12345678A")).toEqual({ ok: false, message: "check letter is wrong" });
    expect(validateIdentifier("GB_NINO", "GB123456A")).toEqual({ ok: false, message: "prefix GB is not allocated" });
    expect(validateIdentifier("US_EIN", "07-1234567")).toEqual({ ok: false, message: "prefix (first 2 digits) is not an IRS-assigned prefix" });
  });

  it("applies the Steuer-ID digit-repetition rule (one digit twice or thrice, never three in a row)", () => {
    // "1234567890" has no repeated digit; "1112345678" repeats 1 three times in a row.
    expect(validateIdentifier("DE_STEUER_ID", "1234567890" + mod11_10("1234567890"))).toMatchObject({ ok: false });
    expect(validateIdentifier("DE_STEUER_ID", "1112345678" + mod11_10("1112345678"))).toEqual({ ok: false, message: "a digit must not appear three times in a row" });
    expect(validateIdentifier("DE_STEUER_ID", "1121345678" + mod11_10("1121345678"))).toMatchObject({ ok: true });
    expect(validateIdentifier("DE_STEUER_ID", "1122345678" + mod11_10("1122345678"))).toMatchObject({ ok: false });
  });

  it("holds the ITIN, EIN and PAN holder-status rules", () => {
    expect(validateIdentifier("US_ITIN", "912-70-1234")).toMatchObject({ ok: true });
    expect(validateIdentifier("US_ITIN", "912-93-1234")).toMatchObject({ ok: false });
    expect(validateIdentifier("US_SSN", "912-70-1234")).toMatchObject({ ok: false });
    expect(validateIdentifier("IN_PAN_ENTITY", "AAACR5055K")).toMatchObject({ ok: true });
    expect(validateIdentifier("IN_PAN_ENTITY", "ABCPE1234F")).toMatchObject({ ok: false });
    expect(validateIdentifier("IN_GSTIN", "27AAPFU0939F1ZV")).toMatchObject({ ok: true });
    expect(validateIdentifier("IN_GSTIN", "27AAPFU0939F1ZW")).toMatchObject({ ok: false });
  });
});

describe.each(Object.entries(KNOWN))("%s known numbers", (type, { valid, invalid }) => {
  it.each(valid)("accepts %s", (v) => expect(validateIdentifier(type, v)).toMatchObject({ ok: true }));
  it.each(invalid)("rejects %s", (v) => expect(validateIdentifier(type, v)).toMatchObject({ ok: false }));
});

describe.each(Object.entries(GENERATORS))("%s generated numbers", (type, arbitrary) => {
  it("a random payload with its computed check digit is always valid", () => {
    fc.assert(
      fc.property(arbitrary, (v) => {
        expect(validateIdentifier(type, v), v).toMatchObject({ ok: true });
      }),
    );
  });

  const why = DETECTS_ALL_SINGLE_SUBSTITUTIONS[type];
  if (why !== undefined) {
    it(`any single-digit substitution is rejected (${why})`, () => {
      fc.assert(
        fc.property(
          arbitrary.chain((v) => mutation(v).map((m) => [v, m] as const)),
          ([v, m]) => {
            expect(validateIdentifier(type, m), `${v} → ${m}`).toMatchObject({ ok: false });
          },
        ),
      );
    });
  }
});

describe("schemes without a full single-substitution guarantee", () => {
  it("BR_CPF: changing a check digit is always detected", () => {
    fc.assert(
      fc.property(GENERATORS.BR_CPF!, fc.constantFrom(9, 10), fc.integer({ min: 1, max: 9 }), (v, i, delta) => {
        const m = v.slice(0, i) + ((Number(v.charAt(i)) + delta) % 10) + v.slice(i + 1);
        expect(validateIdentifier("BR_CPF", m)).toMatchObject({ ok: false });
      }),
    );
  });

  it("BR_CNPJ: changing a check digit is always detected", () => {
    fc.assert(
      fc.property(GENERATORS.BR_CNPJ!, fc.constantFrom(12, 13), fc.integer({ min: 1, max: 9 }), (v, i, delta) => {
        const m = v.slice(0, i) + ((Number(v.charAt(i)) + delta) % 10) + v.slice(i + 1);
        expect(validateIdentifier("BR_CNPJ", m)).toMatchObject({ ok: false });
      }),
    );
  });

  it("BR_CPF: but some payload substitutions are not (a known limit of the scheme, not a bug)", () => {
    expect(validateIdentifier("BR_CPF", "35864715301")).toMatchObject({ ok: true });
    expect(validateIdentifier("BR_CPF", "45864715301")).toMatchObject({ ok: true });
  });
});

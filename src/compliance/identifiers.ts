// Government identifier kinds (national ids and business tax / registry ids), keyed by the type
// code a client sends in GovernmentIdentifier.type: "<ISO 3166-1 alpha-2>_<SCHEME>", matching the
// proto pattern ^[A-Z]{2}_[A-Z0-9_]{2,30}$. Each kind normalises a value as typed by a person and
// checks its format and, where the scheme has one, its check digit / letter. Pure: no I/O.
//
// Honesty note: a value that passes is WELL-FORMED, not issued. Where an issuing authority does not
// publish a check-digit algorithm (or we could not confirm it) the check is format-only, and the
// kind's comment says so. Every kind carries `source`: the statute or the issuer's page.

export type IdentifierHolder = "individual" | "business";

export interface IdentifierKind {
  /** "CC_SCHEME", e.g. "DE_STEUER_ID". */
  readonly type: string;
  /** ISO 3166-1 alpha-2 of the issuing country. */
  readonly country: string;
  /** Human name, e.g. "Steuerliche Identifikationsnummer". */
  readonly label: string;
  /** Who the identifier is expected from here: individual.national_id or business.tax_id. */
  readonly holder: IdentifierHolder;
  /** Strips the separators the scheme allows (spaces, dots, dashes, slashes) and upper-cases. */
  normalise(value: string): string;
  /** null = valid; otherwise a short message, e.g. "must be 11 digits", "check digit is wrong". */
  check(normalised: string): string | null;
  /** URL or legal reference backing the format and the check. */
  readonly source: string;
  /** A value that passes (a documented test number where the issuer publishes one). */
  readonly example: string;
}

export const IDENTIFIER_TYPE_PATTERN = /^[A-Z]{2}_[A-Z0-9_]{2,30}$/;

// ---------------------------------------------------------------------------------------------
// Helpers

/** Default normaliser: drop whitespace, dots, dashes and slashes; upper-case. */
function compact(value: string): string {
  return value.replace(/[\s.\-/]/g, "").toUpperCase();
}

/** Digit value at i ("0" → 0). Callers have already checked the characters are digits. */
function dig(s: string, i: number): number {
  return s.charCodeAt(i) - 48;
}

function weightedSum(s: string, weights: readonly number[], from = 0): number {
  let sum = 0;
  weights.forEach((w, i) => {
    sum += dig(s, from + i) * w;
  });
  return sum;
}

/** Luhn (ISO/IEC 7812-1 annex B): detects every single-digit substitution. */
function luhnValid(s: string): boolean {
  let sum = 0;
  for (let i = 0; i < s.length; i++) {
    let v = dig(s, s.length - 1 - i);
    if (i % 2 === 1) {
      v *= 2;
      if (v > 9) v -= 9;
    }
    sum += v;
  }
  return sum % 10 === 0;
}

/** ISO 7064 MOD 11,10 check digit over `payload` (detects every single substitution). */
function iso7064Mod11_10(payload: string): number {
  let product = 10;
  for (let i = 0; i < payload.length; i++) {
    let sum = (dig(payload, i) + product) % 10;
    if (sum === 0) sum = 10;
    product = (sum * 2) % 11;
  }
  const check = 11 - product;
  return check === 10 ? 0 : check;
}

function isRealDate(year: number, month: number, day: number): boolean {
  if (month < 1 || month > 12 || day < 1) return false;
  const probe = new Date(0);
  probe.setUTCFullYear(year, month - 1, day);
  return probe.getUTCFullYear() === year && probe.getUTCMonth() === month - 1 && probe.getUTCDate() === day;
}

/** A check built from a format regex, its message, then optional further rules. */
function rules(format: RegExp, formatMessage: string, ...more: Array<(n: string) => string | null>) {
  return (n: string): string | null => {
    if (!format.test(n)) return formatMessage;
    for (const rule of more) {
      const message = rule(n);
      if (message !== null) return message;
    }
    return null;
  };
}

const CHECK_DIGIT_WRONG = "check digit is wrong";
const CHECK_LETTER_WRONG = "check letter is wrong";

function kind(k: Omit<IdentifierKind, "normalise"> & { normalise?: (value: string) => string }): IdentifierKind {
  return { ...k, normalise: k.normalise ?? compact };
}

// ---------------------------------------------------------------------------------------------
// Scheme-specific computations

const EIN_PREFIXES = new Set([
  // IRS "How EINs are assigned and valid EIN prefixes" (campus prefixes, internet, SBA).
  ...["01", "02", "03", "04", "05", "06"],
  ...["10", "11", "12", "13", "14", "15", "16"],
  ...["20", "21", "22", "23", "24", "25", "26", "27"],
  ...Array.from({ length: 19 }, (_, i) => String(30 + i)), // 30-48
  ...Array.from({ length: 19 }, (_, i) => String(50 + i)), // 50-68
  ...["71", "72", "73", "74", "75", "76", "77"],
  ...["80", "81", "82", "83", "84", "85", "86", "87", "88"],
  ...["90", "91", "92", "93", "94", "95", "98", "99"],
]);

/** SSNs known to have been widely misused (SSA, "Social Security Numbers: misused"). */
const MISUSED_SSNS = new Set(["078051120", "219099999"]);

function steuerIdRepetition(n: string): string | null {
  const first10 = n.slice(0, 10);
  const counts = new Map<string, number>();
  for (const c of first10) counts.set(c, (counts.get(c) ?? 0) + 1);
  const repeated = [...counts.values()].filter((c) => c > 1);
  if (repeated.length !== 1 || (repeated[0] ?? 0) > 3) {
    return "exactly one digit must appear twice (or three times) in the first 10 digits";
  }
  if (/(\d)\1\1/.test(first10)) return "a digit must not appear three times in a row";
  return null;
}

const DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE";

function cifControl(n: string): string | null {
  // Orden EHA/451/2008 (NIF of legal entities): digit sum of the 7-digit number, Luhn-like.
  let sum = 0;
  for (let i = 1; i <= 7; i++) {
    const v = dig(n, i);
    if (i % 2 === 1) {
      const doubled = v * 2;
      sum += Math.floor(doubled / 10) + (doubled % 10);
    } else {
      sum += v;
    }
  }
  const digit = (10 - (sum % 10)) % 10;
  const letter = "JABCDEFGHI"[digit] ?? "";
  const control = n.slice(8);
  const first = n.slice(0, 1);
  if ("PQRSNW".includes(first)) return control === letter ? null : CHECK_LETTER_WRONG;
  if ("ABEH".includes(first)) return control === String(digit) ? null : CHECK_DIGIT_WRONG;
  return control === String(digit) || control === letter ? null : CHECK_DIGIT_WRONG;
}

// Codice fiscale: values of characters at odd (1st, 3rd, ...) positions; even positions use 0-25.
const CF_ODD = [1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24, 23];
const CF_ODD_DIGITS = [1, 0, 5, 7, 9, 13, 15, 17, 19, 21];
const CF_OMOCODIA = "LMNPQRSTUV"; // letters that replace digits 0-9 in case of homocody

function codiceFiscaleCheck(n: string): string | null {
  const dayDigits = [...n.slice(9, 11)].map((c) => (CF_OMOCODIA.includes(c) ? String(CF_OMOCODIA.indexOf(c)) : c)).join("");
  const day = Number(dayDigits);
  if (!((day >= 1 && day <= 31) || (day >= 41 && day <= 71))) return "day of birth (characters 10-11) is not valid";
  let sum = 0;
  for (let i = 0; i < 15; i++) {
    const c = n.charCodeAt(i);
    const isDigit = c >= 48 && c <= 57;
    const v = isDigit ? c - 48 : c - 65;
    sum += i % 2 === 0 ? ((isDigit ? CF_ODD_DIGITS[v] : CF_ODD[v]) ?? 0) : v;
  }
  return n.slice(15) === String.fromCharCode(65 + (sum % 26)) ? null : CHECK_LETTER_WRONG;
}

const PPSN_LETTERS = "WABCDEFGHIJKLMNOPQRSTUV";

/** Irish PPSN / VAT check letter: weights 8..2 on 7 digits, 9 × the optional second letter. */
function ppsnCheck(digits7: string, checkLetter: string, second: string): string | null {
  let sum = weightedSum(digits7, [8, 7, 6, 5, 4, 3, 2]);
  if (second !== "" && second !== "W") sum += 9 * (second.charCodeAt(0) - 64);
  return PPSN_LETTERS[sum % 23] === checkLetter ? null : CHECK_LETTER_WRONG;
}

function pplDateOk(n: string): boolean {
  const yy = Number(n.slice(0, 2));
  const mm = Number(n.slice(2, 4));
  const dd = Number(n.slice(4, 6));
  const centuries: Record<number, number> = { 0: 1900, 1: 1900, 2: 2000, 3: 2000, 4: 2100, 5: 2100, 6: 2200, 7: 2200, 8: 1800, 9: 1800 };
  const century = centuries[Math.floor(mm / 10)] ?? 1900;
  return isRealDate(century + yy, mm % 20, dd);
}

function mod11CheckDigit(s: string, weights: readonly number[]): number {
  const r = weightedSum(s, weights) % 11;
  return r < 2 ? 0 : 11 - r;
}

/** Brazilian CNPJ check digits; the 12-character base may be alphanumeric from July 2026
 * (IN RFB 2.229/2024): each character counts as its ASCII code minus 48. */
function cnpjCheckDigits(base12: string): string {
  const value = (s: string, i: number) => s.charCodeAt(i) - 48;
  const dv = (s: string, weights: number[]) => {
    let sum = 0;
    weights.forEach((w, i) => {
      sum += value(s, i) * w;
    });
    const r = sum % 11;
    return r < 2 ? 0 : 11 - r;
  };
  const d1 = dv(base12, [5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2]);
  const d2 = dv(base12 + d1, [6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2]);
  return `${d1}${d2}`;
}

const CURP_CHARS = "0123456789ABCDEFGHIJKLMNÑOPQRSTUVWXYZ";

const NRIC_TABLES: Record<string, { offset: number; letters: string }> = {
  S: { offset: 0, letters: "JZIHGFEDCBA" },
  T: { offset: 4, letters: "JZIHGFEDCBA" },
  F: { offset: 0, letters: "XWUTRQPNMLK" },
  G: { offset: 4, letters: "XWUTRQPNMLK" },
};

const B36 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";

function gstinCheckChar(first14: string): string {
  let sum = 0;
  for (let i = 0; i < 14; i++) {
    const v = B36.indexOf(first14.charAt(i)) * (i % 2 === 0 ? 1 : 2);
    sum += Math.floor(v / 36) + (v % 36);
  }
  return B36.charAt((36 - (sum % 36)) % 36);
}

const PAN_HOLDER_STATUS = "ABCFGHJLPT"; // 4th PAN character: P person, C company, F firm, ...

// ---------------------------------------------------------------------------------------------
// The kinds

/** The Dutch "11-proef" shared by BSN and RSIN: 9·d1 + 8·d2 + … + 2·d8 − d9 ≡ 0 (mod 11). */
const dutchElevenProof = rules(
  /^\d{9}$/,
  "must be 9 digits",
  (n) => (n === "000000000" ? "must not be all zeros" : null),
  (n) => (weightedSum(n, [9, 8, 7, 6, 5, 4, 3, 2, -1]) % 11 === 0 ? null : "fails the 11-proof (check digit is wrong)"),
);

const LIST: IdentifierKind[] = [
  // ---- United States -------------------------------------------------------------------------
  kind({
    type: "US_SSN",
    country: "US",
    label: "Social Security Number",
    holder: "individual",
    // SSA: area 000, 666 and 900-999, group 00 and serial 0000 are never issued (randomization
    // since 2011 kept these exclusions).
    source: "https://www.ssa.gov/employer/randomization.html ; https://www.ssa.gov/history/ssn/misused.html",
    example: "123-45-6789",
    check: rules(
      /^\d{9}$/,
      "must be 9 digits",
      (n) => (/^(000|666|9)/.test(n) ? "area number (first 3 digits) cannot be 000, 666 or 900-999" : null),
      (n) => (n.slice(3, 5) === "00" ? "group number (digits 4-5) cannot be 00" : null),
      (n) => (n.slice(5) === "0000" ? "serial number (last 4 digits) cannot be 0000" : null),
      (n) => (MISUSED_SSNS.has(n) ? "is a publicly misused number, never valid" : null),
    ),
  }),
  kind({
    type: "US_ITIN",
    country: "US",
    label: "Individual Taxpayer Identification Number",
    holder: "individual",
    // IRS: 9 digits beginning with 9; 4th-5th digits 50-65, 70-88, 90-92 or 94-99.
    source: "https://www.irs.gov/individuals/individual-taxpayer-identification-number",
    example: "912-70-1234",
    check: rules(/^9\d{8}$/, "must be 9 digits starting with 9", (n) =>
      /^9\d{2}(5\d|6[0-5]|7\d|8[0-8]|9[0-2]|9[4-9])\d{4}$/.test(n) ? null : "digits 4-5 must be 50-65, 70-88, 90-92 or 94-99",
    ),
  }),
  kind({
    type: "US_EIN",
    country: "US",
    label: "Employer Identification Number",
    holder: "business",
    source: "https://www.irs.gov/businesses/small-businesses-self-employed/how-eins-are-assigned-and-valid-ein-prefixes",
    example: "12-3456789",
    check: rules(/^\d{9}$/, "must be 9 digits", (n) => (EIN_PREFIXES.has(n.slice(0, 2)) ? null : "prefix (first 2 digits) is not an IRS-assigned prefix")),
  }),

  // ---- United Kingdom ------------------------------------------------------------------------
  kind({
    type: "GB_NINO",
    country: "GB",
    label: "National Insurance number",
    holder: "individual",
    // HMRC NIM39110: first letter not D F I Q U V; second not D F I O Q U V; prefixes BG GB KN NK
    // NT TN ZZ not allocated; suffix A-D.
    source: "https://www.gov.uk/hmrc-internal-manuals/national-insurance-manual/nim39110",
    example: "AB 12 34 56 C",
    check: rules(
      /^[A-Z]{2}\d{6}[A-D]$/,
      "must be 2 letters, 6 digits and a letter A-D (e.g. AB 12 34 56 C)",
      (n) => (/^[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z]/.test(n) ? null : "prefix letters are not allowed (D, F, I, Q, U, V; O as 2nd)"),
      (n) => (/^(BG|GB|KN|NK|NT|TN|ZZ)/.test(n) ? `prefix ${n.slice(0, 2)} is not allocated` : null),
    ),
  }),
  kind({
    type: "GB_UTR",
    country: "GB",
    label: "Unique Taxpayer Reference",
    holder: "business",
    // HMRC does not publish the UTR check-digit rule: format-only (10 digits; a trailing "K" as
    // printed on some letters is dropped).
    source: "https://www.gov.uk/find-utr-number",
    example: "1234567890",
    normalise: (v) => compact(v).replace(/^K|K$/, ""),
    check: rules(/^\d{10}$/, "must be 10 digits"),
  }),
  kind({
    type: "GB_VAT",
    country: "GB",
    label: "VAT registration number",
    holder: "business",
    // 9 digits (12 for branch traders), modulus-97 check (old "mod 97" and new "mod 9755"
    // ranges). GD/HA (government departments, health authorities) have no check digits.
    // GB999999973 is HMRC's documented test number.
    source: "https://www.gov.uk/check-uk-vat-number ; Value Added Tax Act 1994",
    example: "GB 999 9999 73",
    normalise: (v) => {
      const c = compact(v);
      return /^\d/.test(c) ? `GB${c}` : c;
    },
    check: rules(/^GB(\d{9}|\d{12}|GD[0-4]\d{2}|HA[5-9]\d{2})$/, "must be GB and 9 digits (or 12 for a branch)", (n) => {
      if (!/^GB\d/.test(n)) return null;
      const total = weightedSum(n, [8, 7, 6, 5, 4, 3, 2], 2) + Number(n.slice(9, 11));
      return total % 97 === 0 || (total + 55) % 97 === 0 ? null : CHECK_DIGIT_WRONG;
    }),
  }),
  kind({
    type: "GB_CRN",
    country: "GB",
    label: "Companies House registration number",
    holder: "business",
    // 8 characters: 8 digits (England & Wales), or a 2-letter register prefix (SC, NI, OC, SO, ...)
    // and 6 digits; old Northern Ireland numbers are R + 7 digits. No check digit.
    source: "https://find-and-update.company-information.service.gov.uk/ ; Companies Act 2006 s.1066",
    example: "00445790",
    check: rules(/^(\d{8}|[A-Z]{2}\d{6}|R\d{7})$/, "must be 8 digits, or 2 letters and 6 digits"),
  }),

  // ---- Germany -------------------------------------------------------------------------------
  kind({
    type: "DE_STEUER_ID",
    country: "DE",
    label: "Steuerliche Identifikationsnummer",
    holder: "individual",
    // § 139b AO; BZSt: 11 digits, first not 0; in the first 10 exactly one digit appears twice or
    // three times (never three in a row); check digit ISO 7064 MOD 11,10.
    source: "https://www.gesetze-im-internet.de/ao_1977/__139b.html ; https://www.bzst.de/DE/Privatpersonen/SteuerlicheIdentifikationsnummer/steuerlicheidentifikationsnummer_node.html",
    example: "86095742719",
    check: rules(
      /^\d{11}$/,
      "must be 11 digits",
      (n) => (n.startsWith("0") ? "must not start with 0" : null),
      steuerIdRepetition,
      (n) => (iso7064Mod11_10(n.slice(0, 10)) === dig(n, 10) ? null : CHECK_DIGIT_WRONG),
    ),
  }),
  kind({
    type: "DE_USTID",
    country: "DE",
    label: "Umsatzsteuer-Identifikationsnummer",
    holder: "business",
    // § 27a UStG: DE + 9 digits; the 9th is an ISO 7064 MOD 11,10 check digit.
    source: "https://www.gesetze-im-internet.de/ustg_1980/__27a.html",
    example: "DE136695976",
    normalise: (v) => {
      const c = compact(v);
      return /^\d/.test(c) ? `DE${c}` : c;
    },
    check: rules(/^DE\d{9}$/, "must be DE and 9 digits", (n) =>
      iso7064Mod11_10(n.slice(2, 10)) === dig(n, 10) ? null : CHECK_DIGIT_WRONG,
    ),
  }),
  kind({
    type: "DE_STEUERNUMMER",
    country: "DE",
    label: "Steuernummer",
    holder: "business",
    // Formats differ per Land (10-11 digits) and the unified ELSTER form has 13; the check-digit
    // rules differ per Land and are not all published: format-only.
    source: "https://www.elster.de/ ; § 139a AO (https://www.gesetze-im-internet.de/ao_1977/__139a.html)",
    example: "2181508150",
    check: rules(/^\d{10,13}$/, "must be 10 to 13 digits"),
  }),

  // ---- France --------------------------------------------------------------------------------
  kind({
    type: "FR_NIR",
    country: "FR",
    label: "Numéro d'inscription au répertoire (sécurité sociale)",
    holder: "individual",
    // 13 characters + 2-digit key = 97 - (number mod 97); Corsica 2A/2B count as 19/18.
    // Processing the NIR is restricted by law (décret n° 2019-341): accepted, never required.
    source: "https://www.cnil.fr/fr/le-numero-dinscription-au-repertoire-nir ; décret n° 2019-341",
    example: "1 85 05 78 006 084 91",
    check: rules(/^[1-478]\d{4}(\d{2}|2[AB])\d{8}$/, "must be 15 characters: sex, year, month, department, commune, order and key", (n) => {
      const body = n.slice(0, 13).replace("2A", "19").replace("2B", "18");
      const key = 97 - (Number(body) % 97);
      return key === Number(n.slice(13)) ? null : "key (last 2 digits) is wrong";
    }),
  }),
  kind({
    type: "FR_SPI",
    country: "FR",
    label: "Numéro fiscal de référence (SPI)",
    holder: "individual",
    // 13 digits, first 0-3. The DGFiP does not publish a check rule we could confirm: format-only.
    source: "https://www.impots.gouv.fr/ (numéro fiscal, avis d'impôt) ; OECD CRS TIN sheet for France",
    example: "3023217600053",
    check: rules(/^[0-3]\d{12}$/, "must be 13 digits starting with 0-3"),
  }),
  kind({
    type: "FR_SIREN",
    country: "FR",
    label: "SIREN",
    holder: "business",
    // INSEE: 9 digits, Luhn. 356000000 is La Poste.
    source: "https://www.insee.fr/fr/metadonnees/definition/c2047 ; Code de commerce art. R123-220 et s.",
    example: "356 000 000",
    check: rules(/^\d{9}$/, "must be 9 digits", (n) => (luhnValid(n) ? null : CHECK_DIGIT_WRONG)),
  }),
  kind({
    type: "FR_TVA",
    country: "FR",
    label: "Numéro de TVA intracommunautaire",
    holder: "business",
    // FR + 2-digit key + SIREN; key = (12 + 3 × (SIREN mod 97)) mod 97. Only numeric keys.
    source: "https://www.impots.gouv.fr/ ; CGI art. 286 ter",
    example: "FR39356000000",
    check: rules(/^FR\d{11}$/, "must be FR, a 2-digit key and the 9-digit SIREN", (n) => {
      const siren = n.slice(4);
      if (!luhnValid(siren)) return "SIREN part has a wrong check digit";
      return (12 + 3 * (Number(siren) % 97)) % 97 === Number(n.slice(2, 4)) ? null : "key (2 digits after FR) is wrong";
    }),
  }),

  // ---- Netherlands ---------------------------------------------------------------------------
  kind({
    type: "NL_BSN",
    country: "NL",
    label: "Burgerservicenummer",
    holder: "individual",
    // Wet algemene bepalingen burgerservicenummer; 9 digits (older 8-digit ones take a leading 0),
    // "11-proef": 9·d1 + 8·d2 + ... + 2·d8 − d9 ≡ 0 (mod 11).
    source: "https://wetten.overheid.nl/BWBR0022428 ; https://www.rvig.nl/bsn",
    example: "111222333",
    normalise: (v) => {
      const c = compact(v);
      return /^\d{8}$/.test(c) ? `0${c}` : c;
    },
    check: dutchElevenProof,
  }),
  kind({
    type: "NL_RSIN",
    country: "NL",
    label: "RSIN (fiscaal nummer rechtspersoon)",
    holder: "business",
    // Same 11-proof as the BSN (Handelsregisterwet 2007 art. 12).
    source: "https://wetten.overheid.nl/BWBR0021777 ; https://www.kvk.nl/",
    example: "123456782",
    check: dutchElevenProof,
  }),
  kind({
    type: "NL_KVK",
    country: "NL",
    label: "KVK-nummer (Handelsregister)",
    holder: "business",
    // 8 digits, no check digit. A registry number rather than a tax id; accepted as tax_id
    // because Dutch businesses commonly give it.
    source: "https://www.kvk.nl/ ; Handelsregisterwet 2007",
    example: "69599084",
    check: rules(/^\d{8}$/, "must be 8 digits"),
  }),

  // ---- Spain ---------------------------------------------------------------------------------
  kind({
    type: "ES_DNI",
    country: "ES",
    label: "Documento Nacional de Identidad (NIF)",
    holder: "individual",
    // 8 digits + control letter TRWAGMYFPDXBNJZSQVHLCKE[number mod 23].
    source: "https://www.interior.gob.es/opencms/es/servicios-al-ciudadano/tramites-y-gestiones/dni/calculo-del-digito-de-control-del-nif-nie/ ; Real Decreto 1553/2005",
    example: "12345678Z",
    check: rules(/^\d{8}[A-Z]$/, "must be 8 digits and a letter", (n) =>
      DNI_LETTERS[Number(n.slice(0, 8)) % 23] === n.slice(8) ? null : CHECK_LETTER_WRONG,
    ),
  }),
  kind({
    type: "ES_NIE",
    country: "ES",
    label: "Número de Identidad de Extranjero",
    holder: "individual",
    // X/Y/Z (as 0/1/2) + 7 digits + the DNI control letter.
    source: "https://www.interior.gob.es/opencms/es/servicios-al-ciudadano/tramites-y-gestiones/dni/calculo-del-digito-de-control-del-nif-nie/ ; Real Decreto 557/2011 art. 206",
    example: "X1234567L",
    check: rules(/^[XYZ]\d{7}[A-Z]$/, "must be X, Y or Z, 7 digits and a letter", (n) => {
      const number = Number(String("XYZ".indexOf(n.slice(0, 1))) + n.slice(1, 8));
      return DNI_LETTERS[number % 23] === n.slice(8) ? null : CHECK_LETTER_WRONG;
    }),
  }),
  kind({
    type: "ES_CIF",
    country: "ES",
    label: "NIF de persona jurídica (antiguo CIF)",
    holder: "business",
    // Orden EHA/451/2008: entity-type letter + 7 digits + control (digit or letter by type).
    source: "https://www.boe.es/buscar/act.php?id=BOE-A-2008-3580 ; Real Decreto 1065/2007",
    example: "B12345674",
    check: rules(/^[ABCDEFGHJNPQRSUVW]\d{7}[0-9A-J]$/, "must be an entity letter, 7 digits and a control character", cifControl),
  }),

  // ---- Italy ---------------------------------------------------------------------------------
  kind({
    type: "IT_CODICE_FISCALE",
    country: "IT",
    label: "Codice fiscale (persona fisica)",
    holder: "individual",
    // DM 23/12/1976: 6 letters, year, month letter, day (+40 for women), place code, check letter
    // (odd/even character tables mod 26). Digits may be replaced by LMNPQRSTUV (omocodia).
    source: "https://www.agenziaentrate.gov.it/portale/web/guest/schede/istanze/richiesta-ts_cf/informazioni-codificazione-pf ; DPR 605/1973",
    example: "RSSMRA85T10A562S",
    check: rules(
      /^[A-Z]{6}[0-9LMNPQRSTUV]{2}[ABCDEHLMPRST][0-9LMNPQRSTUV]{2}[A-Z][0-9LMNPQRSTUV]{3}[A-Z]$/,
      "must be 16 characters: 6 letters, birth year, month letter, day, place code and check letter",
      codiceFiscaleCheck,
    ),
  }),
  kind({
    type: "IT_PARTITA_IVA",
    country: "IT",
    label: "Partita IVA",
    holder: "business",
    // DPR 633/1972 art. 35: 11 digits, last is a Luhn check digit.
    source: "https://www.agenziaentrate.gov.it/ ; DPR 633/1972 art. 35",
    example: "00743110157",
    normalise: (v) => compact(v).replace(/^IT/, ""),
    check: rules(/^\d{11}$/, "must be 11 digits", (n) => (luhnValid(n) ? null : CHECK_DIGIT_WRONG)),
  }),

  // ---- Ireland -------------------------------------------------------------------------------
  kind({
    type: "IE_PPSN",
    country: "IE",
    label: "Personal Public Service Number",
    holder: "individual",
    // 7 digits + check letter (+ optional second letter A-I or W): weights 8..2, 9 × 2nd letter, mod 23.
    source: "https://www.gov.ie/en/service/12e6dc-get-a-personal-public-service-pps-number/ ; Social Welfare Consolidation Act 2005 s.262",
    example: "1234567T",
    check: rules(/^\d{7}[A-W][A-IW]?$/, "must be 7 digits and 1 or 2 letters", (n) => ppsnCheck(n.slice(0, 7), n.slice(7, 8), n.slice(8))),
  }),
  kind({
    type: "IE_VAT",
    country: "IE",
    label: "VAT number / Tax Reference Number",
    holder: "business",
    // IE + 7 digits + check letter (+ second letter): same check as the PPSN. The pre-2013 format
    // with a letter in 2nd position is not supported (it would be rejected).
    source: "https://www.revenue.ie/en/vat/vat-registration/index.aspx",
    example: "IE1234567T",
    normalise: (v) => {
      const c = compact(v);
      return /^\d/.test(c) ? `IE${c}` : c;
    },
    check: rules(/^IE\d{7}[A-W][A-IW]?$/, "must be IE, 7 digits and 1 or 2 letters", (n) => ppsnCheck(n.slice(2, 9), n.slice(9, 10), n.slice(10))),
  }),

  // ---- Switzerland ---------------------------------------------------------------------------
  kind({
    type: "CH_AHV",
    country: "CH",
    label: "AHV-Nummer / numéro AVS",
    holder: "individual",
    // AHVG art. 50c: 13 digits, prefix 756, EAN-13 check digit. Systematic use outside social
    // insurance is restricted (AHVG art. 153b-153i): accepted, never required.
    source: "https://www.fedlex.admin.ch/eli/cc/63/837_843_843/de#art_50_c ; https://www.zas.admin.ch/",
    example: "756.9217.0769.85",
    check: rules(/^\d{13}$/, "must be 13 digits", (n) => (n.startsWith("756") ? null : "must start with 756"), (n) => {
      const sum = weightedSum(n, [1, 3, 1, 3, 1, 3, 1, 3, 1, 3, 1, 3]);
      return (10 - (sum % 10)) % 10 === dig(n, 12) ? null : CHECK_DIGIT_WRONG;
    }),
  }),
  kind({
    type: "CH_UID",
    country: "CH",
    label: "Unternehmens-Identifikationsnummer (UID / MWST)",
    holder: "business",
    // UIDG; eCH-0097: CHE + 9 digits, weights 5 4 3 2 7 6 5 4 mod 11 (a result of 10 is never
    // assigned). A trailing MWST/TVA/IVA/HR suffix is dropped.
    source: "https://www.fedlex.admin.ch/eli/cc/2011/713/de ; https://www.uid.admin.ch/ ; eCH-0097",
    example: "CHE-109.322.551",
    normalise: (v) => compact(v).replace(/(MWST|TVA|IVA|TPV|HR)$/, ""),
    check: rules(/^CHE\d{9}$/, "must be CHE and 9 digits", (n) => {
      const r = 11 - (weightedSum(n, [5, 4, 3, 2, 7, 6, 5, 4], 3) % 11);
      const check = r === 11 ? 0 : r;
      return check !== 10 && check === dig(n, 11) ? null : CHECK_DIGIT_WRONG;
    }),
  }),

  // ---- Sweden --------------------------------------------------------------------------------
  kind({
    type: "SE_PERSONNUMMER",
    country: "SE",
    label: "Personnummer / samordningsnummer",
    holder: "individual",
    // Folkbokföringslagen 18 §; SKV 704: YYMMDD-NNNC, Luhn over the 10 digits; coordination numbers
    // add 60 to the day. The 12-digit form (with century) is shortened to 10.
    source: "https://www.riksdagen.se/sv/dokument-och-lagar/dokument/svensk-forfattningssamling/folkbokforingslag-1991481_sfs-1991-481/ ; Skatteverket SKV 704",
    example: "811228-9874",
    normalise: (v) => {
      const c = v.replace(/[\s.\-/+]/g, "").toUpperCase();
      return /^\d{12}$/.test(c) ? c.slice(2) : c;
    },
    check: rules(
      /^\d{10}$/,
      "must be 10 digits (YYMMDD-NNNN) or 12 digits (YYYYMMDD-NNNN)",
      (n) => {
        const mm = Number(n.slice(2, 4));
        const dd = Number(n.slice(4, 6));
        const day = dd > 60 ? dd - 60 : dd;
        return mm >= 1 && mm <= 12 && day >= 1 && day <= 31 ? null : "date of birth part is not a valid date";
      },
      (n) => (luhnValid(n) ? null : CHECK_DIGIT_WRONG),
    ),
  }),
  kind({
    type: "SE_ORGNR",
    country: "SE",
    label: "Organisationsnummer",
    holder: "business",
    // Skatteverket SKV 709: 10 digits, 3rd digit ≥ 2 (so it never looks like a date), Luhn.
    source: "https://bolagsverket.se/ ; Lag (1974:174) om identitetsbeteckning för juridiska personer m.fl.",
    example: "556012-5790",
    normalise: (v) => compact(v).replace(/^SE(\d{10})01$/, "$1"),
    check: rules(
      /^\d{10}$/,
      "must be 10 digits",
      (n) => (dig(n, 2) >= 2 ? null : "3rd digit must be 2 or more"),
      (n) => (luhnValid(n) ? null : CHECK_DIGIT_WRONG),
    ),
  }),

  // ---- Poland --------------------------------------------------------------------------------
  kind({
    type: "PL_PESEL",
    country: "PL",
    label: "PESEL",
    holder: "individual",
    // Ustawa o ewidencji ludności art. 15: YYMMDD (month +20 for 2000s, +80 for 1800s, ...),
    // serial, check digit with weights 1 3 7 9 mod 10.
    source: "https://isap.sejm.gov.pl/isap.nsf/DocDetails.xsp?id=WDU20100170095 ; https://www.gov.pl/web/gov/czym-jest-numer-pesel",
    example: "44051401359",
    check: rules(
      /^\d{11}$/,
      "must be 11 digits",
      (n) => (pplDateOk(n) ? null : "date of birth part is not a valid date"),
      (n) => ((10 - (weightedSum(n, [1, 3, 7, 9, 1, 3, 7, 9, 1, 3]) % 10)) % 10 === dig(n, 10) ? null : CHECK_DIGIT_WRONG),
    ),
  }),
  kind({
    type: "PL_NIP",
    country: "PL",
    label: "NIP (numer identyfikacji podatkowej)",
    holder: "business",
    // Ustawa z 13.10.1995 o zasadach ewidencji i identyfikacji podatników: 10 digits, weights
    // 6 5 7 2 3 4 5 6 7 mod 11 (a remainder of 10 is never issued).
    source: "https://isap.sejm.gov.pl/isap.nsf/DocDetails.xsp?id=WDU19951420702",
    example: "123-456-32-18",
    normalise: (v) => compact(v).replace(/^PL/, ""),
    check: rules(/^\d{10}$/, "must be 10 digits", (n) => {
      const r = weightedSum(n, [6, 5, 7, 2, 3, 4, 5, 6, 7]) % 11;
      return r !== 10 && r === dig(n, 9) ? null : CHECK_DIGIT_WRONG;
    }),
  }),
  kind({
    type: "PL_REGON",
    country: "PL",
    label: "REGON",
    holder: "business",
    // GUS: 9 digits (weights 8 9 2 3 4 5 6 7) or 14 (2 4 8 5 0 9 7 3 6 1 2 4 8), mod 11, 10 → 0.
    source: "https://bip.stat.gov.pl/dzialalnosc-statystyki-publicznej/rejestr-regon/",
    example: "123456785",
    check: rules(/^(\d{9}|\d{14})$/, "must be 9 or 14 digits", (n) => {
      const weights = n.length === 9 ? [8, 9, 2, 3, 4, 5, 6, 7] : [2, 4, 8, 5, 0, 9, 7, 3, 6, 1, 2, 4, 8];
      const check = (weightedSum(n, weights) % 11) % 10;
      if (check !== dig(n, n.length - 1)) return CHECK_DIGIT_WRONG;
      if (n.length === 14) {
        const base = (weightedSum(n, [8, 9, 2, 3, 4, 5, 6, 7]) % 11) % 10;
        if (base !== dig(n, 8)) return "the 9-digit REGON inside has a wrong check digit";
      }
      return null;
    }),
  }),

  // ---- United Arab Emirates ------------------------------------------------------------------
  kind({
    type: "AE_EMIRATES_ID",
    country: "AE",
    label: "Emirates ID number",
    holder: "individual",
    // 784-YYYY-NNNNNNN-C. Third-party libraries treat C as a Luhn digit but ICP does not publish
    // the rule: format-only.
    source: "https://icp.gov.ae/ ; Federal Decree-Law No. 9 of 2006 on the Population Register and Identity Card",
    example: "784-1990-1234567-1",
    check: rules(/^784\d{12}$/, "must be 15 digits starting with 784"),
  }),
  kind({
    type: "AE_TRN",
    country: "AE",
    label: "Tax Registration Number",
    holder: "business",
    // 15 digits (observed to start with 100; not enforced). No published check digit: format-only.
    source: "https://tax.gov.ae/ ; Federal Decree-Law No. 8 of 2017 on VAT art. 1",
    example: "100123456700003",
    check: rules(/^\d{15}$/, "must be 15 digits"),
  }),

  // ---- Singapore -----------------------------------------------------------------------------
  kind({
    type: "SG_NRIC",
    country: "SG",
    label: "NRIC / FIN",
    holder: "individual",
    // S/T (citizens, PR) and F/G (foreigners): weights 2 7 6 5 4 3 2, +4 for T/G, mod 11 →
    // letter. ICA does not publish the algorithm; it is the one in general use. The M series
    // (FIN from 2022) is accepted on format only.
    source: "https://www.ica.gov.sg/ ; National Registration Act 1965 (https://sso.agc.gov.sg/Act/NRA1965)",
    example: "S1234567D",
    check: rules(/^[STFGM]\d{7}[A-Z]$/, "must be S, T, F, G or M, 7 digits and a letter", (n) => {
      const table = NRIC_TABLES[n.slice(0, 1)];
      if (table === undefined) return null; // M series: format-only
      const r = (weightedSum(n, [2, 7, 6, 5, 4, 3, 2], 1) + table.offset) % 11;
      return table.letters[r] === n.slice(8) ? null : CHECK_LETTER_WRONG;
    }),
  }),
  kind({
    type: "SG_UEN",
    country: "SG",
    label: "Unique Entity Number",
    holder: "business",
    // ACRA businesses nnnnnnnnX, local companies yyyynnnnnX, other entities TyyPQnnnnX. The check
    // letters are not published: format-only.
    source: "https://www.uen.gov.sg/ueninternet/faces/pages/uenAnnouncement.jspx",
    example: "201912345K",
    check: rules(/^(\d{8}[A-Z]|\d{9}[A-Z]|[TSR]\d{2}[A-Z]{2}\d{4}[A-Z])$/, "must be 9 or 10 characters in a UEN format (e.g. 201912345K)"),
  }),

  // ---- Nigeria -------------------------------------------------------------------------------
  kind({
    type: "NG_NIN",
    country: "NG",
    label: "National Identification Number",
    holder: "individual",
    // NIMC Act 2007: 11 digits. No published check digit: format-only.
    source: "https://nimc.gov.ng/ ; National Identity Management Commission Act 2007",
    example: "12345678901",
    check: rules(/^\d{11}$/, "must be 11 digits"),
  }),
  kind({
    type: "NG_BVN",
    country: "NG",
    label: "Bank Verification Number",
    holder: "individual",
    // CBN / NIBSS: 11 digits. No published check digit: format-only.
    source: "https://www.cbn.gov.ng/ ; https://nibss-plc.com.ng/bvn/",
    example: "22123456789",
    check: rules(/^\d{11}$/, "must be 11 digits"),
  }),
  kind({
    type: "NG_TIN",
    country: "NG",
    label: "Tax Identification Number",
    holder: "business",
    // FIRS TINs are 12 digits shown as 8-4 (12345678-0001); JTB-issued TINs are 10 digits. Not
    // confirmed against a published specification: format-only, both accepted.
    source: "https://www.firs.gov.ng/ ; Federal Inland Revenue Service (Establishment) Act 2007 s.8",
    example: "12345678-0001",
    check: rules(/^(\d{12}|\d{10})$/, "must be 12 digits (8-4) or 10 digits"),
  }),

  // ---- Kenya ---------------------------------------------------------------------------------
  kind({
    type: "KE_NATIONAL_ID",
    country: "KE",
    label: "National ID card number / Maisha Namba",
    holder: "individual",
    // Registration of Persons Act (Cap. 107): 7-8 digits; Maisha Namba (2023) is longer. Range
    // 7-9 is our assumption: format-only.
    source: "https://www.immigration.go.ke/ ; Registration of Persons Act (Cap. 107)",
    example: "12345678",
    check: rules(/^\d{7,9}$/, "must be 7 to 9 digits"),
  }),
  kind({
    type: "KE_KRA_PIN",
    country: "KE",
    label: "KRA Personal Identification Number",
    holder: "business",
    // Tax Procedures Act 2015 s.11: A (individual) or P (non-individual) + 9 digits + letter.
    // The check letter rule is not published: format-only.
    source: "https://www.kra.go.ke/ ; Tax Procedures Act 2015 s.11",
    example: "P051234567Q",
    check: rules(/^[AP]\d{9}[A-Z]$/, "must be A or P, 9 digits and a letter"),
  }),

  // ---- South Africa --------------------------------------------------------------------------
  kind({
    type: "ZA_ID",
    country: "ZA",
    label: "South African identity number",
    holder: "individual",
    // Identification Act 68 of 1997: YYMMDD SSSS C A Z — date of birth, sequence, citizenship
    // (0 citizen, 1 permanent resident, 2 refugee), A (formerly race), Luhn check digit.
    source: "https://www.gov.za/documents/identification-act ; https://www.dha.gov.za/",
    example: "8001015009087",
    check: rules(
      /^\d{13}$/,
      "must be 13 digits",
      (n) => {
        const yy = Number(n.slice(0, 2));
        const mm = Number(n.slice(2, 4));
        const dd = Number(n.slice(4, 6));
        return isRealDate(1900 + yy, mm, dd) || isRealDate(2000 + yy, mm, dd) ? null : "date of birth part is not a valid date";
      },
      (n) => ("012".includes(n.slice(10, 11)) ? null : "citizenship digit (11th) must be 0, 1 or 2"),
      (n) => (luhnValid(n) ? null : CHECK_DIGIT_WRONG),
    ),
  }),
  kind({
    type: "ZA_TAX_REF",
    country: "ZA",
    label: "SARS income tax reference number",
    holder: "business",
    // Tax Administration Act 28 of 2011 s.24: 10 digits. The modulus rule SARS uses is not
    // published: format-only.
    source: "https://www.sars.gov.za/ ; Tax Administration Act 28 of 2011",
    example: "9012345678",
    check: rules(/^\d{10}$/, "must be 10 digits"),
  }),
  kind({
    type: "ZA_VAT",
    country: "ZA",
    label: "VAT registration number",
    holder: "business",
    // Value-Added Tax Act 89 of 1991: 10 digits starting with 4. Format-only.
    source: "https://www.sars.gov.za/types-of-tax/value-added-tax/ ; Value-Added Tax Act 89 of 1991",
    example: "4123456789",
    check: rules(/^4\d{9}$/, "must be 10 digits starting with 4"),
  }),

  // ---- India ---------------------------------------------------------------------------------
  kind({
    type: "IN_PAN",
    country: "IN",
    label: "Permanent Account Number (individual)",
    holder: "individual",
    // Income-tax Act 1961 s.139A: AAAAA9999A; the 4th character is the holder status (P = person).
    // No published check-character rule: format-only.
    source: "https://www.incometax.gov.in/iec/foportal/help/all-about-pan ; Income-tax Act 1961 s.139A",
    example: "ABCPE1234F",
    check: rules(/^[A-Z]{5}\d{4}[A-Z]$/, "must be 5 letters, 4 digits and a letter (AAAAA9999A)", (n) =>
      n.slice(3, 4) === "P" ? null : "4th character must be P (individual); a business's PAN is IN_PAN_ENTITY",
    ),
  }),
  kind({
    type: "IN_PAN_ENTITY",
    country: "IN",
    label: "Permanent Account Number (non-individual)",
    holder: "business",
    // Same format; 4th character C company, F firm/LLP, H HUF, A AOP, T trust, B BOI, L local
    // authority, J artificial juridical person, G government.
    source: "https://www.incometax.gov.in/iec/foportal/help/all-about-pan ; Income-tax Act 1961 s.139A",
    example: "AAACR5055K",
    check: rules(/^[A-Z]{5}\d{4}[A-Z]$/, "must be 5 letters, 4 digits and a letter (AAAAA9999A)", (n) =>
      PAN_HOLDER_STATUS.includes(n.slice(3, 4)) && n.slice(3, 4) !== "P"
        ? null
        : "4th character must be a non-individual holder status (C, F, H, A, T, B, L, J or G)",
    ),
  }),
  kind({
    type: "IN_GSTIN",
    country: "IN",
    label: "GST Identification Number",
    holder: "business",
    // CGST Rules 2017 r.10: state code (2 digits), PAN (10), entity number, Z, check character
    // (Luhn mod 36 over the first 14 characters).
    source: "https://www.gst.gov.in/ ; Central Goods and Services Tax Rules 2017 r.10",
    example: "27AAPFU0939F1ZV",
    check: rules(/^\d{2}[A-Z]{5}\d{4}[A-Z][1-9A-Z]Z[0-9A-Z]$/, "must be 15 characters: state code, PAN, entity number, Z, check character", (n) =>
      gstinCheckChar(n.slice(0, 14)) === n.slice(14) ? null : "check character is wrong",
    ),
  }),

  // ---- Brazil --------------------------------------------------------------------------------
  kind({
    type: "BR_CPF",
    country: "BR",
    label: "Cadastro de Pessoas Físicas",
    holder: "individual",
    // IN RFB 2.172/2024: 9 digits + 2 mod-11 check digits; numbers with 11 equal digits are invalid.
    source: "https://www.gov.br/receitafederal/pt-br/assuntos/meu-cpf ; Instrução Normativa RFB nº 2.172/2024",
    example: "529.982.247-25",
    check: rules(
      /^\d{11}$/,
      "must be 11 digits",
      (n) => (/^(\d)\1{10}$/.test(n) ? "must not be 11 equal digits" : null),
      (n) => {
        const d1 = mod11CheckDigit(n, [10, 9, 8, 7, 6, 5, 4, 3, 2]);
        const d2 = mod11CheckDigit(n, [11, 10, 9, 8, 7, 6, 5, 4, 3, 2]);
        return d1 === dig(n, 9) && d2 === dig(n, 10) ? null : "check digits are wrong";
      },
    ),
  }),
  kind({
    type: "BR_CNPJ",
    country: "BR",
    label: "Cadastro Nacional da Pessoa Jurídica",
    holder: "business",
    // IN RFB 2.119/2022; alphanumeric base from July 2026 (IN RFB 2.229/2024): 12 characters
    // [0-9A-Z] + 2 mod-11 check digits (character value = ASCII − 48).
    source: "https://www.gov.br/receitafederal/pt-br/assuntos/orientacao-tributaria/cadastros/cnpj ; Instrução Normativa RFB nº 2.229/2024",
    example: "11.222.333/0001-81",
    check: rules(
      /^[0-9A-Z]{12}\d{2}$/,
      "must be 14 characters: 12 digits or letters and 2 check digits",
      (n) => (/^(\d)\1{13}$/.test(n) ? "must not be 14 equal digits" : null),
      (n) => (cnpjCheckDigits(n.slice(0, 12)) === n.slice(12) ? null : "check digits are wrong"),
    ),
  }),

  // ---- Mexico --------------------------------------------------------------------------------
  kind({
    type: "MX_CURP",
    country: "MX",
    label: "Clave Única de Registro de Población",
    holder: "individual",
    // Instructivo Normativo para la Asignación de la CURP (DOF 18-10-2021): 4 letters, YYMMDD,
    // H/M (X since 2022), state, 3 consonants, homonymy character, check digit: Σ value × (18 − i)
    // over the first 17 characters, check = (10 − sum mod 10) mod 10.
    source: "https://www.gob.mx/curp/ ; Instructivo Normativo para la Asignación de la CURP, DOF 18-10-2021",
    example: "SABC560626MDFLRN01",
    check: rules(
      /^[A-Z][AEIOUX][A-Z]{2}\d{2}(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])[HMX](AS|B[CS]|C[CLMSH]|D[FG]|G[TR]|HG|JC|M[CNS]|N[ETL]|OC|PL|Q[TR]|S[PLR]|T[CSL]|VZ|YN|ZS)[B-DF-HJ-NP-TV-Z]{3}[A-Z\d]\d$/,
      "must be 18 characters in the CURP format (e.g. SABC560626MDFLRN01)",
      (n) => {
        let sum = 0;
        for (let i = 0; i < 17; i++) sum += CURP_CHARS.indexOf(n.charAt(i)) * (18 - i);
        return (10 - (sum % 10)) % 10 === dig(n, 17) ? null : CHECK_DIGIT_WRONG;
      },
    ),
  }),
  kind({
    type: "MX_RFC",
    country: "MX",
    label: "Registro Federal de Contribuyentes",
    holder: "business",
    // Código Fiscal de la Federación art. 27: 3 letters (persona moral) or 4 (persona física,
    // e.g. a sole trader) + YYMMDD + 3-character homoclave. The homoclave's check character rule
    // is SAT-internal: format and date only.
    source: "https://www.sat.gob.mx/ ; Código Fiscal de la Federación art. 27",
    example: "ABC680524P76",
    check: rules(/^[A-ZÑ&]{3,4}\d{6}[A-Z\d]{3}$/, "must be 3 or 4 letters, YYMMDD and a 3-character homoclave", (n) => {
      const date = n.slice(-9, -3);
      const mm = Number(date.slice(2, 4));
      const dd = Number(date.slice(4, 6));
      return mm >= 1 && mm <= 12 && dd >= 1 && dd <= 31 ? null : "date part (YYMMDD) is not a valid date";
    }),
  }),

  // ---- Canada --------------------------------------------------------------------------------
  kind({
    type: "CA_SIN",
    country: "CA",
    label: "Social Insurance Number",
    holder: "individual",
    // ESDC: 9 digits, Luhn. 046 454 286 is the number ESDC uses in its own examples.
    source: "https://www.canada.ca/en/employment-social-development/services/sin.html ; Income Tax Act s.237",
    example: "046 454 286",
    check: rules(/^\d{9}$/, "must be 9 digits", (n) => (luhnValid(n) ? null : CHECK_DIGIT_WRONG)),
  }),
  kind({
    type: "CA_BN",
    country: "CA",
    label: "Business Number (optionally with program account)",
    holder: "business",
    // CRA: 9-digit BN with a Luhn check digit, optionally + program id (RC, RT, RP, ...) + 4 digits.
    source: "https://www.canada.ca/en/services/taxes/business-number.html",
    example: "123456782",
    check: rules(/^\d{9}([A-Z]{2}\d{4})?$/, "must be 9 digits, optionally followed by a program account (e.g. RC0001)", (n) =>
      luhnValid(n.slice(0, 9)) ? null : CHECK_DIGIT_WRONG,
    ),
  }),

  // ---- Australia -----------------------------------------------------------------------------
  kind({
    type: "AU_TFN",
    country: "AU",
    label: "Tax File Number",
    holder: "individual",
    // ATO: 9 digits, weights 1 4 3 7 5 8 6 9 10, sum ≡ 0 mod 11 (older 8-digit TFNs: 10 7 8 4 6 3
    // 5 1). Quoting a TFN is voluntary and its collection is restricted (Privacy (Tax File
    // Number) Rule 2015): accepted, never required.
    source: "https://www.ato.gov.au/individuals-and-families/tax-file-number ; Privacy (Tax File Number) Rule 2015",
    example: "123 456 782",
    check: rules(/^\d{8,9}$/, "must be 9 digits (or 8 for older numbers)", (n) => {
      const weights = n.length === 9 ? [1, 4, 3, 7, 5, 8, 6, 9, 10] : [10, 7, 8, 4, 6, 3, 5, 1];
      return weightedSum(n, weights) % 11 === 0 ? null : CHECK_DIGIT_WRONG;
    }),
  }),
  kind({
    type: "AU_ABN",
    country: "AU",
    label: "Australian Business Number",
    holder: "business",
    // ABR: 11 digits; subtract 1 from the first, weights 10 1 3 5 7 9 11 13 15 17 19, sum ≡ 0 mod 89.
    source: "https://abr.business.gov.au/Help/AbnFormat ; A New Tax System (Australian Business Number) Act 1999",
    example: "51 824 753 556",
    check: rules(/^\d{11}$/, "must be 11 digits", (n) => {
      const sum = weightedSum(n, [10, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19]) - 10;
      return sum % 89 === 0 ? null : CHECK_DIGIT_WRONG;
    }),
  }),
];

export const IDENTIFIERS: Readonly<Record<string, IdentifierKind>> = Object.freeze(
  Object.fromEntries(LIST.map((k) => [k.type, Object.freeze(k)])),
);

/** The kind for a type code; undefined when unknown (prototype keys like "constructor" too). */
export function identifierKind(type: string): IdentifierKind | undefined {
  return Object.hasOwn(IDENTIFIERS, type) ? IDENTIFIERS[type] : undefined;
}

export function validateIdentifier(type: string, value: string): { ok: true; normalised: string } | { ok: false; message: string } {
  const k = identifierKind(type);
  if (k === undefined) return { ok: false, message: "is not a known identifier type" };
  const normalised = k.normalise(value);
  const message = k.check(normalised);
  return message === null ? { ok: true, normalised } : { ok: false, message };
}

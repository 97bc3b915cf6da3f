// Valid customer data for the API suites, generated from the compliance table
// (src/compliance/countries.ts) the way test/unit/requirements.test.ts builds its domain
// customers: every required and eventually-due path of the country filled with a value the
// country accepts. The objects are shaped for the grpc-js client of test/support/grpc.ts
// (proto-loader, keepCase false: camelCase fields, enums as their names).
import { randomUUID } from "node:crypto";
import {
  getExampleNumber,
  isValidPhoneNumber,
  parsePhoneNumberFromString,
  type CountryCode,
} from "libphonenumber-js/max";
import examples from "libphonenumber-js/mobile/examples";
import { rulesFor, type CountryRules } from "../../src/compliance/countries.js";
import { IDENTIFIERS } from "../../src/compliance/identifiers.js";

/** A valid postal code (null: the country has none) and company-register number per supported
 * country, shared by the fixtures and the compliance suites. */
export const COUNTRY_SAMPLES: Readonly<Record<string, { postal: string | null; registration: string }>> = Object.freeze({
  US: { postal: "94105", registration: "C1234567" },
  GB: { postal: "SW1A 1AA", registration: "00445790" },
  DE: { postal: "10115", registration: "HRB 12345" },
  FR: { postal: "75008", registration: "356000000" },
  NL: { postal: "1012 JS", registration: "69599084" },
  ES: { postal: "28013", registration: "Hoja M-123456" },
  IT: { postal: "00184", registration: "MI-1234567" },
  IE: { postal: "D02 X285", registration: "123456" },
  CH: { postal: "8001", registration: "CHE-109.322.551" },
  SE: { postal: "114 55", registration: "556012-5790" },
  PL: { postal: "00-950", registration: "0000012345" },
  AE: { postal: null, registration: "CN-1234567" },
  SG: { postal: "238859", registration: "201912345K" },
  NG: { postal: "100001", registration: "RC 123456" },
  KE: { postal: "00100", registration: "PVT-AAA1BB2" },
  ZA: { postal: "2001", registration: "2019/123456/07" },
  IN: { postal: "110001", registration: "L17110MH1973PLC019786" },
  BR: { postal: "01310-100", registration: "NIRE 35300012345" },
  MX: { postal: "06600", registration: "N-2019012345" },
  CA: { postal: "K1A 0B1", registration: "1234567-8" },
  AU: { postal: "2000", registration: "000 000 019" },
});

/** A value of the identifier kind that passes its check (IDENTIFIERS[type].example). */
export function validIdentifier(type: string): string {
  const kind = IDENTIFIERS[type];
  if (kind === undefined) throw new Error(`no identifier kind ${type} in src/compliance/identifiers.ts`);
  return kind.example;
}

function rules(country: string): CountryRules {
  const r = rulesFor(country);
  if (r === undefined) throw new Error(`no compliance rules for ${country}: the fixtures build customers of supported countries only`);
  return r;
}

function sample(country: string) {
  const s = COUNTRY_SAMPLES[country];
  if (s === undefined) throw new Error(`no postal code / registry sample for ${country}: add it to COUNTRY_SAMPLES`);
  return s;
}

const issuedPhones = new Set<string>();
let phoneSeq = 0;

function isLocalMobile(e164: string, country: string): boolean {
  if (!isValidPhoneNumber(e164)) return false;
  const phone = parsePhoneNumberFromString(e164);
  if (phone === undefined) return false;
  const local = phone.country === country || phone.getPossibleCountries().includes(country as CountryCode);
  const type = phone.getType();
  return local && (type === "MOBILE" || type === "FIXED_LINE_OR_MOBILE");
}

/**
 * A valid mobile number of the country's numbering plan (E.164), different on every call in this
 * test file: libphonenumber's example mobile number with its last digits varied, each candidate
 * checked with isValidPhoneNumber (and that it is still a mobile number of that country).
 */
export function localMobile(country: string): string {
  const example = getExampleNumber(country as CountryCode, examples);
  if (example === undefined) throw new Error(`libphonenumber has no example mobile number for ${country}`);
  const national = example.nationalNumber as string;
  const prefix = `+${example.countryCallingCode}`;
  for (let tries = 0; tries < 10_000; tries++) {
    const n = ++phoneSeq;
    // Vary the last four digits (three for short national numbers), starting after the example.
    const width = national.length > 7 ? 4 : 3;
    const mod = 10 ** width;
    const tail = (Number(national.slice(-width)) + n) % mod;
    const candidate = `${prefix}${national.slice(0, -width)}${String(tail).padStart(width, "0")}`;
    if (!issuedPhones.has(candidate) && isLocalMobile(candidate, country)) {
      issuedPhones.add(candidate);
      return candidate;
    }
  }
  throw new Error(`could not derive another valid ${country} mobile number from ${example.number}`);
}

/**
 * Valid UK mobile numbers (+44 790 and a 7-digit counter), a different one on every call of the
 * returned function, ten million before they repeat: for load (the bench, the soak), which
 * creates more customers than localMobile's 10 000 numbers per country and file.
 */
export function ukMobileSequence(): () => string {
  let seq = 0;
  return () => {
    for (let tries = 0; tries < 1_000; tries++) {
      const n = `+44790${String(seq++ % 10_000_000).padStart(7, "0")}`;
      if (isValidPhoneNumber(n)) return n;
    }
    throw new Error("could not derive a valid UK mobile number");
  };
}

/** A fresh address of the country, with a postal code in its format (empty where there are none). */
export function validAddress(country: string) {
  return {
    line1: "1 High Street",
    line2: "",
    city: "Capital",
    region: "Region",
    postalCode: sample(country).postal ?? "",
    countryCode: country,
  };
}

export interface GrpcDate {
  year: number;
  month: number;
  day: number;
}
export interface GrpcIdentifier {
  type: string;
  value: string;
}
export interface GrpcAddress {
  line1: string;
  line2: string;
  city: string;
  region: string;
  postalCode: string;
  countryCode: string;
}
export interface GrpcIndividual {
  givenName: string;
  middleName: string;
  familyName: string;
  dateOfBirth: GrpcDate | null;
  nationality: string;
  taxResidencyCountry: string;
  nationalId: GrpcIdentifier | null;
  occupation: string;
}
export interface GrpcRepresentative {
  id?: string;
  givenName: string;
  familyName: string;
  dateOfBirth?: GrpcDate | null;
  nationality?: string;
  email?: string;
  roles: string[];
  ownershipBasisPoints?: number;
  title?: string;
}
export interface GrpcBusiness {
  legalName: string;
  tradingName: string;
  entityType: string;
  registrationNumber: string;
  taxId: GrpcIdentifier | null;
  incorporationCountry: string;
  incorporationDate: GrpcDate | null;
  website: string;
  industry: string;
  representatives: GrpcRepresentative[];
}
interface GrpcCustomerBase {
  email: string;
  phoneNumber?: string;
  countryCode: string;
  address?: GrpcAddress | null;
  externalId?: string;
  metadata?: Record<string, string>;
}
export interface GrpcIndividualCustomer extends GrpcCustomerBase {
  individual: GrpcIndividual;
}
export interface GrpcBusinessCustomer extends GrpcCustomerBase {
  business: GrpcBusiness;
}

/**
 * Overrides of a complete customer. Top-level keys replace the generated ones; `individual` /
 * `business` are merged into the generated profile (so `{ individual: { givenName: "Jane" } }`
 * keeps the date of birth and the rest). A key set to `undefined` is removed (e.g.
 * `{ phoneNumber: undefined }` for a customer without a phone number).
 */
export type CustomerOverrides<K extends "individual" | "business", P> = {
  [F in keyof GrpcCustomerBase]?: GrpcCustomerBase[F] | undefined;
} & { [F in K]?: Partial<P> } & Record<string, unknown>;

function merge<C extends Record<string, unknown>>(base: C, profileKey: "individual" | "business", overrides: Record<string, unknown>): C {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(overrides)) {
    if (k === profileKey && v !== undefined && v !== null) {
      out[k] = { ...(base[k] as object), ...(v as object) };
    } else if (v === undefined) {
      delete out[k];
    } else {
      out[k] = v;
    }
  }
  return out as C;
}

/** An adult born on 10 December 1980 (older than every country's minimum age). */
export const ADULT_DATE_OF_BIRTH: Readonly<GrpcDate> = Object.freeze({ year: 1980, month: 12, day: 10 });

/**
 * An individual of `country` that satisfies every path the country requires now or eventually,
 * with values the country accepts: a unique email, a local mobile number (unique in this file),
 * an address with a valid postal code, an adult's date of birth, the country's first accepted
 * national_id type with a valid value. Verify the contacts and it can be activated.
 */
export function completeIndividual(
  country: string,
  overrides: CustomerOverrides<"individual", GrpcIndividual> = {},
): GrpcIndividualCustomer {
  const r = rules(country);
  const idType = r.individual.nationalIdTypes[0]!;
  const base: GrpcIndividualCustomer = {
    individual: {
      givenName: "Ada",
      middleName: "",
      familyName: "Lovelace",
      dateOfBirth: { ...ADULT_DATE_OF_BIRTH },
      nationality: country,
      taxResidencyCountry: country,
      nationalId: { type: idType, value: validIdentifier(idType) },
      occupation: "Engineer",
    },
    email: `ada.${randomUUID()}@example.com`,
    // Only drawn when the caller does not bring its own: the file's supply of numbers is finite
    // (10 000 per country), and the bench creates more customers than that with its own numbers.
    phoneNumber: "phoneNumber" in overrides ? "" : localMobile(country),
    countryCode: country,
    address: validAddress(country),
  };
  return merge(base as unknown as Record<string, unknown>, "individual", overrides) as unknown as GrpcIndividualCustomer;
}

/** A director who is also the beneficial owner of 60 % (above every country's threshold). */
export function beneficialOwner(over: Partial<GrpcRepresentative> = {}): GrpcRepresentative {
  return {
    givenName: "Grace",
    familyName: "Hopper",
    dateOfBirth: { year: 1970, month: 1, day: 1 },
    nationality: "US",
    email: "",
    roles: ["REPRESENTATIVE_ROLE_DIRECTOR", "REPRESENTATIVE_ROLE_BENEFICIAL_OWNER"],
    ownershipBasisPoints: 6000,
    title: "CEO",
    ...over,
  };
}

/**
 * A business of `country` that satisfies every path the country requires now or eventually:
 * unique email, local mobile number, address with a valid postal code, the register's number
 * format, the country's first accepted tax_id type with a valid value, entity type, incorporation
 * date and country, industry, and one representative who is a director and the beneficial owner
 * of 60 % (so the country's ownership threshold is met).
 */
export function completeBusiness(
  country: string,
  overrides: CustomerOverrides<"business", GrpcBusiness> = {},
): GrpcBusinessCustomer {
  const r = rules(country);
  const taxType = r.business.taxIdTypes[0]!;
  const base: GrpcBusinessCustomer = {
    business: {
      legalName: "Analytical Engines Ltd",
      tradingName: "",
      entityType: "BUSINESS_ENTITY_TYPE_CORPORATION",
      registrationNumber: sample(country).registration,
      taxId: { type: taxType, value: validIdentifier(taxType) },
      incorporationCountry: country,
      incorporationDate: { year: 2010, month: 6, day: 1 },
      website: "",
      industry: "Software",
      representatives: [beneficialOwner()],
    },
    email: `office.${randomUUID()}@example.com`,
    phoneNumber: "phoneNumber" in overrides ? "" : localMobile(country),
    countryCode: country,
    address: validAddress(country),
  };
  return merge(base as unknown as Record<string, unknown>, "business", overrides) as unknown as GrpcBusinessCustomer;
}

// The requirements evaluator: given a customer, the country table (countries.ts) and the tenant's
// own required paths, what is due now (blocks activation) and what will be due later. Plus the
// country checks on values (postal code, phone, age, identifier types, registry number) and the
// identifier value check run before sealing. Pure: no I/O, the clock is a parameter.
import { getCountryCallingCode, type CountryCode } from "libphonenumber-js/max";
import { isRealDate, type Address, type CalendarDate, type Customer, type CustomerDetails, type Profile } from "../customers/customer.js";
import type { FieldViolation } from "../errors.js";
import { rulesFor, type RequirementPath } from "./countries.js";
import { identifierKind, validateIdentifier } from "./identifiers.js";
import { phoneFacts } from "./phone.js";

export type RequirementReason =
  | "EMAIL_NOT_VERIFIED"
  | "PHONE_NOT_VERIFIED"
  | "FIELD_REQUIRED_BY_COUNTRY"
  | "BENEFICIAL_OWNER_REQUIRED"
  | "FIELD_REQUIRED_BY_TENANT";

export interface Requirement {
  readonly field: RequirementPath;
  /** Stable UPPER_SNAKE reason. */
  readonly reason: RequirementReason;
  readonly description: string;
}

export interface Requirements {
  /** Missing now: the customer cannot be activated until these are resolved. Sorted by field. */
  readonly currentlyDue: Requirement[];
  /** Will be needed (tax reporting, rules with a later start date); not blocking. Sorted by field. */
  readonly eventuallyDue: Requirement[];
}

/** The part of a customer the path checks read (a Customer is one). */
export type RequirementSubject = CustomerDetails;

export interface RequirementPathSpec {
  /** The customer type the path belongs to; null = both. */
  readonly holder: "individual" | "business" | null;
  /** Human name used in descriptions. */
  readonly label: string;
  /** Whether the value is absent: empty (blank) string, null, no address, no representatives. */
  missing(subject: RequirementSubject): boolean;
}

const blank = (s: string): boolean => s.trim() === "";

function individualPath(label: string, missing: (p: Extract<Profile, { kind: "individual" }>) => boolean): RequirementPathSpec {
  return { holder: "individual", label, missing: (s) => s.profile.kind === "individual" && missing(s.profile) };
}

function businessPath(label: string, missing: (p: Extract<Profile, { kind: "business" }>) => boolean): RequirementPathSpec {
  return { holder: "business", label, missing: (s) => s.profile.kind === "business" && missing(s.profile) };
}

function addressPath(label: string, field: keyof Address): RequirementPathSpec {
  return { holder: null, label, missing: (s) => s.address === null || blank(s.address[field]) };
}

/** Every path a country table or a tenant may require (all changeable fields of Customer), and
 * what "missing" means for it. */
export const REQUIREMENT_PATHS: Readonly<Record<RequirementPath, RequirementPathSpec>> = Object.freeze({
  email: { holder: null, label: "the email address", missing: (s) => blank(s.email) },
  phone_number: { holder: null, label: "a phone number", missing: (s) => s.phoneNumber === null || blank(s.phoneNumber) },
  country_code: { holder: null, label: "the country", missing: (s) => blank(s.countryCode) },
  external_id: { holder: null, label: "the tenant's external id", missing: (s) => s.externalId === null || blank(s.externalId) },
  metadata: { holder: null, label: "metadata", missing: (s) => Object.keys(s.metadata).length === 0 },
  address: { holder: null, label: "an address", missing: (s) => s.address === null },
  "address.line1": addressPath("the first address line", "line1"),
  "address.line2": addressPath("the second address line", "line2"),
  "address.city": addressPath("the city", "city"),
  "address.region": addressPath("the region (state, province, county)", "region"),
  "address.postal_code": addressPath("the postal code", "postalCode"),
  "address.country_code": addressPath("the address country", "countryCode"),
  individual: individualPath("the individual profile", () => false),
  "individual.given_name": individualPath("the given name", (p) => blank(p.givenName)),
  "individual.middle_name": individualPath("the middle name", (p) => blank(p.middleName)),
  "individual.family_name": individualPath("the family name", (p) => blank(p.familyName)),
  "individual.date_of_birth": individualPath("the date of birth", (p) => p.dateOfBirth === null),
  "individual.nationality": individualPath("the nationality", (p) => blank(p.nationality)),
  "individual.tax_residency_country": individualPath("the country of tax residence", (p) => blank(p.taxResidencyCountry)),
  "individual.national_id": individualPath("a national identifier", (p) => p.nationalId === null),
  "individual.occupation": individualPath("the occupation", (p) => blank(p.occupation)),
  business: businessPath("the business profile", () => false),
  "business.legal_name": businessPath("the legal name", (p) => blank(p.legalName)),
  "business.trading_name": businessPath("the trading name", (p) => blank(p.tradingName)),
  "business.entity_type": businessPath("the legal form (entity type)", (p) => p.entityType === null),
  "business.registration_number": businessPath("the company registration number", (p) => blank(p.registrationNumber)),
  "business.tax_id": businessPath("a tax identifier", (p) => p.taxId === null),
  "business.incorporation_country": businessPath("the country of incorporation", (p) => blank(p.incorporationCountry)),
  "business.incorporation_date": businessPath("the date of incorporation", (p) => p.incorporationDate === null),
  "business.website": businessPath("the website", (p) => blank(p.website)),
  "business.industry": businessPath("the industry (business activity)", (p) => blank(p.industry)),
  "business.representatives": businessPath("the representatives (directors and beneficial owners)", (p) => p.representatives.length === 0),
});

export function isRequirementPath(path: string): boolean {
  return Object.hasOwn(REQUIREMENT_PATHS, path);
}

function spec(path: string): RequirementPathSpec | undefined {
  return Object.hasOwn(REQUIREMENT_PATHS, path) ? REQUIREMENT_PATHS[path] : undefined;
}

const REPRESENTATIVES: RequirementPath = "business.representatives";

/** Ownership problems of a business's representatives, or null when there are none. */
function beneficialOwnerProblem(p: Extract<Profile, { kind: "business" }>, thresholdBasisPoints: number): string | null {
  const problems: string[] = [];
  if (!p.representatives.some((r) => r.roles.includes("beneficial_owner") || r.roles.includes("director"))) {
    problems.push("add at least one representative with the director or beneficial_owner role");
  }
  const percent = (bp: number) => `${bp / 100} %`;
  p.representatives.forEach((r, i) => {
    if (r.ownershipBasisPoints >= thresholdBasisPoints && !r.roles.includes("beneficial_owner")) {
      problems.push(
        `representatives[${i}] owns ${percent(r.ownershipBasisPoints)} (${percent(thresholdBasisPoints)} or more) and must have the beneficial_owner role`,
      );
    }
  });
  return problems.length === 0 ? null : problems.join("; ");
}

function byField(a: Requirement, b: Requirement): number {
  return a.field < b.field ? -1 : a.field > b.field ? 1 : 0;
}

/** The proper ancestors of a path ("address.postal_code" -> ["address"]), computed once per path. */
const ANCESTORS = new Map<string, readonly string[]>();
function ancestorsOf(path: string): readonly string[] {
  let list = ANCESTORS.get(path);
  if (list === undefined) {
    const parts = path.split(".");
    list = parts.slice(1).map((_, n) => parts.slice(0, n + 1).join("."));
    ANCESTORS.set(path, list);
  }
  return list;
}

/** Drops requirements whose ancestor path is itself due ("address" covers "address.postal_code"). */
function withoutCovered(list: Requirement[], covering: ReadonlySet<string> | ReadonlyMap<string, unknown>): Requirement[] {
  return list.filter((r) => !ancestorsOf(r.field).some((a) => covering.has(a)));
}

/**
 * Requirements are immutable: each distinct one (a field, its reason and its description) is
 * built once and shared by every evaluation, instead of formatting its description on every read
 * (evaluateRequirements runs on every GetCustomer and for each customer of a List page).
 */
const SHARED = new Map<string, Requirement>();
function shared(field: string, reason: RequirementReason, description: () => string, key: string): Requirement {
  let r = SHARED.get(key);
  if (r === undefined) {
    r = Object.freeze({ field: field as RequirementPath, reason, description: description() });
    SHARED.set(key, r);
  }
  return r;
}
const EMAIL_NOT_VERIFIED = Object.freeze<Requirement>({ field: "email", reason: "EMAIL_NOT_VERIFIED", description: "verify the email address" });
const PHONE_MISSING = Object.freeze<Requirement>({ field: "phone_number", reason: "PHONE_NOT_VERIFIED", description: "add a phone number and verify it" });
const PHONE_NOT_VERIFIED = Object.freeze<Requirement>({ field: "phone_number", reason: "PHONE_NOT_VERIFIED", description: "verify the phone number" });

/**
 * What the customer still has to provide.
 * - currentlyDue: unverified email (EMAIL_NOT_VERIFIED); a missing or unverified phone
 *   (PHONE_NOT_VERIFIED); each path of the country's `required` list for the customer's type
 *   that is missing (FIELD_REQUIRED_BY_COUNTRY); for businesses whose country requires
 *   representatives, ownership problems (BENEFICIAL_OWNER_REQUIRED on "business.representatives");
 *   each tenant-required path of the customer's own type that is missing (FIELD_REQUIRED_BY_TENANT).
 * - eventuallyDue: the country's `eventuallyDue` paths still missing (reason FIELD_REQUIRED_BY_COUNTRY).
 * One requirement per field (first reason in the order above wins), none that an ancestor path
 * already covers, nothing in eventuallyDue that is currently due; both lists sorted by field.
 * A country without rules yields only the contact and tenant requirements. Unknown paths are
 * ignored (tenant configuration validates them with isRequirementPath).
 * `now` is accepted for rules that start on a date; no current rule depends on it.
 * `eventually: false` leaves eventuallyDue empty, for readers that only show what is currently due
 * (a customer's missing_requirements).
 */
export function evaluateRequirements(customer: Customer, tenantRequired: readonly RequirementPath[], now: Date, options?: { eventually?: boolean }): Requirements {
  void now;
  const type = customer.profile.kind;
  const current = new Map<string, Requirement>();
  const add = (map: Map<string, Requirement>, r: Requirement) => {
    if (!map.has(r.field)) map.set(r.field, r);
  };
  const due = (path: string): RequirementPathSpec | undefined => {
    const s = spec(path);
    return s !== undefined && (s.holder === null || s.holder === type) && s.missing(customer) ? s : undefined;
  };

  if (!customer.emailVerified) add(current, EMAIL_NOT_VERIFIED);
  if (customer.phoneNumber === null || blank(customer.phoneNumber)) add(current, PHONE_MISSING);
  else if (!customer.phoneVerified) add(current, PHONE_NOT_VERIFIED);

  const rules = rulesFor(customer.countryCode);
  const eventual = new Map<string, Requirement>();
  if (rules !== undefined) {
    const own = rules[type];
    const who = type === "individual" ? "individual" : "business";
    for (const path of own.required) {
      const s = due(path);
      if (s !== undefined) {
        add(current, shared(path, "FIELD_REQUIRED_BY_COUNTRY", () => `${rules.name} requires ${s.label} for ${who} customers`, `country:${customer.countryCode}:${who}:${path}`));
      }
    }
    if (customer.profile.kind === "business" && rules.business.required.includes(REPRESENTATIVES) && customer.profile.representatives.length > 0) {
      const problem = beneficialOwnerProblem(customer.profile, rules.business.beneficialOwnerThresholdBasisPoints);
      if (problem !== null) add(current, { field: REPRESENTATIVES, reason: "BENEFICIAL_OWNER_REQUIRED", description: problem });
    }
    if (options?.eventually !== false) {
      for (const path of own.eventuallyDue) {
        const s = due(path);
        if (s !== undefined) {
          add(eventual, shared(path, "FIELD_REQUIRED_BY_COUNTRY", () => `${rules.name} will require ${s.label} for ${who} customers`, `eventually:${customer.countryCode}:${who}:${path}`));
        }
      }
    }
  }

  for (const path of tenantRequired) {
    const s = due(path);
    if (s !== undefined) add(current, shared(path, "FIELD_REQUIRED_BY_TENANT", () => `the tenant requires ${s.label}`, `tenant:${path}`));
  }

  const currentlyDue = withoutCovered([...current.values()], current).sort(byField);
  if (eventual.size === 0) return { currentlyDue, eventuallyDue: [] };
  const eventuallyDue = withoutCovered(
    [...eventual.values()].filter((r) => !current.has(r.field)),
    new Set([...current.keys(), ...eventual.keys()]),
  ).sort(byField);
  return { currentlyDue, eventuallyDue };
}

// ---------------------------------------------------------------------------------------------
// Country checks on values

/** What countryViolations reads (a CustomerDetails fits). */
export interface CountryCheckSubject {
  readonly countryCode: string;
  readonly phoneNumber: string | null;
  readonly address: Address | null;
  readonly profile: Profile;
}

function ageOn(dob: CalendarDate, now: Date): number {
  const y = now.getUTCFullYear();
  const m = now.getUTCMonth() + 1;
  const d = now.getUTCDate();
  return y - dob.year - (m < dob.month || (m === dob.month && d < dob.day) ? 1 : 0);
}

/**
 * Values that cannot be right for the customer's country (field paths prefixed "customer."):
 * - address.postal_code not in the format of the ADDRESS's country (when that country has rules
 *   and postal codes; an empty postal code is a requirement, not a violation);
 * - phone_number outside the country's numbering plan when the country's phoneMustBeLocal (a
 *   number shared by several countries, e.g. +44 for GB, GG, JE, IM, passes if the country is
 *   among them; numbers that do not parse are left to checkDetails);
 * - individual.date_of_birth making the person younger than the country's minimumAge (age.minimum);
 * - individual.national_id.type / business.tax_id.type not accepted in the country;
 * - business.registration_number not in the format of the incorporation country (or, when that is
 *   empty, the customer's country).
 * A country without rules has no violations (except the postal code of a supported address country).
 */
export function countryViolations(details: CountryCheckSubject, now: Date): FieldViolation[] {
  const out: FieldViolation[] = [];
  const address = details.address;
  if (address !== null && !blank(address.postalCode)) {
    const addressRules = rulesFor(address.countryCode);
    if (addressRules?.postalCode && !addressRules.postalCode.test(address.postalCode.trim().toUpperCase())) {
      out.push({
        field: "customer.address.postal_code",
        ruleId: "postal_code.format",
        message: `is not a valid ${addressRules.name} postal code`,
      });
    }
  }

  const rules = rulesFor(details.countryCode);
  if (rules === undefined) return out;

  if (rules.phoneMustBeLocal && details.phoneNumber !== null && !blank(details.phoneNumber)) {
    const phone = phoneFacts(details.phoneNumber);
    if (phone !== undefined && phone.country !== rules.country && !phone.possibleCountries.includes(rules.country as CountryCode)) {
      out.push({
        field: "customer.phone_number",
        ruleId: "phone_number.country",
        message: `must be a ${rules.name} phone number (+${getCountryCallingCode(rules.country as CountryCode)})`,
      });
    }
  }

  const p = details.profile;
  if (p.kind === "individual") {
    // An impossible or future date is checkDetails' violation (date.valid / date.not_future), not an age.
    const age = p.dateOfBirth !== null && isRealDate(p.dateOfBirth) ? ageOn(p.dateOfBirth, now) : null;
    if (age !== null && age >= 0 && age < rules.individual.minimumAge) {
      out.push({
        field: "customer.individual.date_of_birth",
        ruleId: "age.minimum",
        message: `the customer must be at least ${rules.individual.minimumAge} years old in ${rules.name}`,
      });
    }
    if (p.nationalId !== null && !rules.individual.nationalIdTypes.includes(p.nationalId.type)) {
      out.push({
        field: "customer.individual.national_id.type",
        ruleId: "national_id.type_country",
        message: `must be one of ${rules.individual.nationalIdTypes.join(", ")} in ${rules.name}`,
      });
    }
  } else {
    if (p.taxId !== null && !rules.business.taxIdTypes.includes(p.taxId.type)) {
      out.push({
        field: "customer.business.tax_id.type",
        ruleId: "tax_id.type_country",
        message: `must be one of ${rules.business.taxIdTypes.join(", ")} in ${rules.name}`,
      });
    }
    const registryRules = blank(p.incorporationCountry) ? rules : rulesFor(p.incorporationCountry);
    const pattern = registryRules?.business.registrationNumber ?? null;
    if (pattern !== null && registryRules !== undefined && !blank(p.registrationNumber) && !pattern.test(p.registrationNumber.trim().toUpperCase())) {
      out.push({
        field: "customer.business.registration_number",
        ruleId: "registration_number.format",
        message: `is not in the format of the ${registryRules.name} company register`,
      });
    }
  }
  return out;
}

/**
 * The identifier check run on the clear value before it is sealed. Unknown type or a type meant
 * for the other holder → "customer.<path>.type"; a value failing the scheme's check →
 * "customer.<path>.value" with the scheme's message.
 */
export function identifierViolations(
  path: "individual.national_id" | "business.tax_id",
  type: string,
  value: string,
): FieldViolation[] {
  const kind = identifierKind(type);
  if (kind === undefined) {
    return [{ field: `customer.${path}.type`, ruleId: "identifier.type_known", message: "is not a known identifier type" }];
  }
  const holder = path === "individual.national_id" ? "individual" : "business";
  if (kind.holder !== holder) {
    const other = kind.holder === "individual" ? "individual.national_id" : "business.tax_id";
    return [{ field: `customer.${path}.type`, ruleId: "identifier.holder", message: `${type} identifies ${kind.holder === "individual" ? "a person" : "a business"}: send it as ${other}` }];
  }
  const result = validateIdentifier(type, value);
  return result.ok ? [] : [{ field: `customer.${path}.value`, ruleId: "identifier.valid", message: result.message }];
}

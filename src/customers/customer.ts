// The customer domain model and its rules: registration, updates, contact verification flags,
// lifecycle transitions, links. Pure: no protobuf, ORM, transport or crypto here (government
// identifiers arrive already sealed by the service).
import { phoneFacts } from "../compliance/phone.js";
import { AppError, invalidArgument, type FieldViolation } from "../errors.js";
import { allowedTransitions, nextStatus, type CustomerStatus, type LifecycleAction } from "./lifecycle.js";

export type CustomerType = "individual" | "business";
export type { CustomerStatus };
export type BusinessEntityType =
  | "sole_proprietorship"
  | "partnership"
  | "llc"
  | "corporation"
  | "non_profit"
  | "trust"
  | "other";
export type RepresentativeRole = "director" | "beneficial_owner" | "controller" | "authorized_signer";
export type LinkKind = "kyc_case" | "wallet" | "account" | "card";
export type StatusReason =
  | "onboarding_completed"
  | "customer_request"
  | "fraud"
  | "compliance_review"
  | "resolved"
  | "duplicate"
  | "inactivity"
  | "deceased_or_dissolved"
  | "other";

export interface CalendarDate {
  readonly year: number;
  readonly month: number;
  readonly day: number;
}

/** A government identifier as stored: its type, last four characters, ciphertext and keyed
 * blind index (for exact-match lookups); never the clear value. */
export interface SealedIdentifier {
  readonly type: string;
  readonly last4: string;
  readonly sealed: string;
  /** Absent on values stored before blind indexes existed. */
  readonly index?: string;
}

export interface Address {
  readonly line1: string;
  readonly line2: string;
  readonly city: string;
  readonly region: string;
  readonly postalCode: string;
  readonly countryCode: string;
}

export interface Representative {
  readonly id: string;
  readonly givenName: string;
  readonly familyName: string;
  readonly dateOfBirth: CalendarDate | null;
  readonly nationality: string;
  readonly email: string;
  readonly roles: readonly RepresentativeRole[];
  readonly ownershipBasisPoints: number;
  readonly title: string;
}

export interface IndividualProfile {
  readonly kind: "individual";
  readonly givenName: string;
  readonly middleName: string;
  readonly familyName: string;
  readonly dateOfBirth: CalendarDate | null;
  readonly nationality: string;
  readonly taxResidencyCountry: string;
  readonly nationalId: SealedIdentifier | null;
  readonly occupation: string;
}

export interface BusinessProfile {
  readonly kind: "business";
  readonly legalName: string;
  readonly tradingName: string;
  readonly entityType: BusinessEntityType | null;
  readonly registrationNumber: string;
  readonly taxId: SealedIdentifier | null;
  readonly incorporationCountry: string;
  readonly incorporationDate: CalendarDate | null;
  readonly website: string;
  readonly industry: string;
  readonly representatives: readonly Representative[];
}

export type Profile = IndividualProfile | BusinessProfile;

export interface CustomerLink {
  readonly kind: LinkKind;
  readonly externalId: string;
  readonly linkTime: Date;
}

export interface Customer {
  readonly tenantId: string;
  readonly id: string;
  readonly type: CustomerType;
  readonly status: CustomerStatus;
  readonly profile: Profile;
  readonly email: string;
  readonly emailVerified: boolean;
  readonly emailVerifyTime: Date | null;
  readonly phoneNumber: string | null;
  readonly phoneVerified: boolean;
  readonly phoneVerifyTime: Date | null;
  readonly countryCode: string;
  readonly address: Address | null;
  readonly externalId: string | null;
  /** When personal data was erased (erasePersonalData); null while it is held. */
  readonly eraseTime: Date | null;
  readonly metadata: Readonly<Record<string, string>>;
  readonly links: readonly CustomerLink[];
  readonly statusReason: StatusReason | null;
  readonly statusNote: string;
  readonly statusTime: Date;
  readonly version: number;
  readonly createTime: Date;
  readonly updateTime: Date;
}

/** The changeable part of a customer: what create and update both produce, fully resolved. */
export interface CustomerDetails {
  readonly profile: Profile;
  readonly email: string;
  readonly phoneNumber: string | null;
  readonly countryCode: string;
  readonly address: Address | null;
  readonly externalId: string | null;
  readonly metadata: Readonly<Record<string, string>>;
}

export const MAX_LINKS = 100;
export const FULL_OWNERSHIP_BASIS_POINTS = 10_000;

/** Emails are stored and compared in lower case: mailbox providers fintech customers use treat
 * local parts case-insensitively, and a duplicate account hurts more than a theoretical clash. */
export function normaliseEmail(email: string): string {
  return email.trim().toLowerCase();
}

export function isRealDate(d: CalendarDate): boolean {
  if (d.month < 1 || d.month > 12 || d.day < 1) return false;
  const probe = new Date(0);
  probe.setUTCFullYear(d.year, d.month - 1, d.day); // Date.UTC would map years 0-99 to 1900-1999
  return probe.getUTCFullYear() === d.year && probe.getUTCMonth() === d.month - 1 && probe.getUTCDate() === d.day;
}

function compareDate(a: CalendarDate, b: CalendarDate): number {
  return a.year - b.year || a.month - b.month || a.day - b.day;
}

export function toCalendarDate(t: Date): CalendarDate {
  return { year: t.getUTCFullYear(), month: t.getUTCMonth() + 1, day: t.getUTCDate() };
}

function checkPastDate(field: string, d: CalendarDate | null, today: CalendarDate, minYear: number, out: FieldViolation[]) {
  if (d === null) return;
  if (!isRealDate(d)) {
    out.push({ field, ruleId: "date.valid", message: "must be a real calendar date (year, month and day)" });
  } else if (compareDate(d, today) > 0) {
    out.push({ field, ruleId: "date.not_future", message: "must not be in the future" });
  } else if (d.year < minYear) {
    out.push({ field, ruleId: "date.min_year", message: `must be in ${minYear} or later` });
  }
}

/** The business rules every customer satisfies after create and after each update. Shape rules
 * (lengths, patterns, enums) were already checked by protovalidate. `path` prefixes fields. */
export function checkDetails(d: CustomerDetails, now: Date, path = "customer"): FieldViolation[] {
  const out: FieldViolation[] = [];
  const today = toCalendarDate(now);
  if (d.phoneNumber !== null) {
    const phone = phoneFacts(d.phoneNumber);
    if (phone === undefined || !phone.valid) {
      out.push({
        field: `${path}.phone_number`,
        ruleId: "phone_number.valid",
        message: "is not a valid phone number (E.164, checked against the numbering plan of its country code)",
      });
    }
  }
  const p = d.profile;
  if (p.kind === "individual") {
    checkPastDate(`${path}.individual.date_of_birth`, p.dateOfBirth, today, 1900, out);
  } else {
    checkPastDate(`${path}.business.incorporation_date`, p.incorporationDate, today, 1600, out);
    p.representatives.forEach((r, i) =>
      checkPastDate(`${path}.business.representatives.${i}.date_of_birth`, r.dateOfBirth, today, 1900, out),
    );
    const total = p.representatives.reduce((sum, r) => sum + r.ownershipBasisPoints, 0);
    if (total > FULL_OWNERSHIP_BASIS_POINTS) {
      out.push({
        field: `${path}.business.representatives`,
        ruleId: "representatives.ownership_total",
        message: `ownership_basis_points add up to ${total}, more than 10000 (100 %)`,
      });
    }
  }
  return out;
}

/** A new customer: PENDING, contacts unverified. Throws INVALID_ARGUMENT on a broken rule. */
export function registerCustomer(tenantId: string, id: string, details: CustomerDetails, now: Date): Customer {
  const violations = checkDetails(details, now);
  if (violations.length > 0) throw invalidArgument(violations);
  return {
    tenantId,
    id,
    type: details.profile.kind,
    status: "pending",
    ...details,
    email: normaliseEmail(details.email),
    emailVerified: false,
    emailVerifyTime: null,
    phoneVerified: false,
    phoneVerifyTime: null,
    links: [],
    eraseTime: null,
    statusReason: null,
    statusNote: "",
    statusTime: now,
    version: 1,
    createTime: now,
    updateTime: now,
  };
}

export function closedError(c: Customer): AppError {
  return new AppError("FAILED_PRECONDITION", `customer ${c.id} is closed`, { reason: "CUSTOMER_CLOSED" });
}

/** Stale-etag check shared by every write. An empty etag means "no condition". */
export function checkEtag(c: Customer, etag: string): void {
  if (etag !== "" && etag !== String(c.version)) {
    throw new AppError("ABORTED", `etag "${etag}" is stale: the customer is at "${c.version}"; read it again`, {
      reason: "ETAG_MISMATCH",
      metadata: { current_etag: String(c.version) },
    });
  }
}

/** The customer with new details. A changed email or phone number loses its verified flag. */
export function updateCustomer(c: Customer, details: CustomerDetails, now: Date): Customer {
  if (c.status === "closed") throw closedError(c);
  if (details.profile.kind !== c.type) {
    throw invalidArgument([{ field: "customer.type", ruleId: "type.immutable", message: "cannot be changed" }]);
  }
  const violations = checkDetails(details, now);
  if (violations.length > 0) throw invalidArgument(violations);
  const email = normaliseEmail(details.email);
  const keepEmail = email === c.email;
  const keepPhone = details.phoneNumber === c.phoneNumber;
  return {
    ...c,
    ...details,
    email,
    emailVerified: c.emailVerified && keepEmail,
    emailVerifyTime: keepEmail ? c.emailVerifyTime : null,
    phoneVerified: c.phoneVerified && keepPhone,
    phoneVerifyTime: keepPhone ? c.phoneVerifyTime : null,
    version: c.version + 1,
    updateTime: now,
  };
}

export interface Transition {
  readonly action: LifecycleAction;
  readonly reason: StatusReason | null;
  readonly note: string;
}

/** What is still missing before a customer may be activated (empty: nothing). */
export function activationBlockers(c: Customer): Array<{ type: string; subject: string; description: string }> {
  const out: Array<{ type: string; subject: string; description: string }> = [];
  if (!c.emailVerified) out.push({ type: "EMAIL_NOT_VERIFIED", subject: "email", description: "verify the email address first" });
  if (!c.phoneVerified) {
    out.push({
      type: "PHONE_NOT_VERIFIED",
      subject: "phone_number",
      description: c.phoneNumber === null ? "add a phone number and verify it first" : "verify the phone number first",
    });
  }
  return out;
}

/**
 * Applies a lifecycle action. `dueForActivation` lists what is still required before activation
 * (the requirements evaluator's currently-due items, which include unverified contacts); when
 * omitted only the contacts are checked.
 */
export function transition(
  c: Customer,
  t: Transition,
  now: Date,
  dueForActivation: ReadonlyArray<{ type: string; subject: string; description: string }> = activationBlockers(c),
): Customer {
  const to = nextStatus(c.status, t.action);
  if (to === undefined) {
    throw new AppError("FAILED_PRECONDITION", `cannot ${t.action} a customer in status ${c.status.toUpperCase()}`, {
      reason: "TRANSITION_NOT_ALLOWED",
      metadata: { status: c.status.toUpperCase(), action: t.action.toUpperCase() },
    });
  }
  if (t.action === "activate") {
    const blockers = dueForActivation;
    if (blockers.length > 0) {
      throw new AppError("FAILED_PRECONDITION", `customer ${c.id} cannot be activated yet: ${blockers.map((b) => `${b.subject} (${b.type})`).join(", ")}`, {
        reason: "ACTIVATION_REQUIREMENTS_NOT_MET",
        preconditions: [...blockers],
      });
    }
  }
  const defaultReason: StatusReason | null =
    t.action === "activate" ? (c.status === "suspended" ? "resolved" : "onboarding_completed") : null;
  return {
    ...c,
    status: to,
    statusReason: t.reason ?? defaultReason,
    statusNote: t.note,
    statusTime: now,
    version: c.version + 1,
    updateTime: now,
  };
}

/** The contact a code was sent to is verified, if it is still the customer's contact. */
export function markContactVerified(c: Customer, channel: "email" | "phone", destination: string, now: Date): Customer {
  if (c.status === "closed") throw closedError(c);
  const current = channel === "email" ? c.email : c.phoneNumber;
  if (current !== destination) {
    throw new AppError("FAILED_PRECONDITION", `the customer's ${channel} changed since the code was sent; start again`, {
      reason: "DESTINATION_CHANGED",
    });
  }
  const flags = channel === "email" ? { emailVerified: true, emailVerifyTime: now } : { phoneVerified: true, phoneVerifyTime: now };
  return { ...c, ...flags, version: c.version + 1, updateTime: now };
}

/** The personal fields erasePersonalData empties (names in Customer), for the audit trail. */
export const ERASED_FIELDS = ["individual", "business", "email", "phone_number", "address", "metadata", "status_note"] as const;

/**
 * Right to erasure: the customer as kept once its personal data is gone. Kept: id, type,
 * status and reason, country, external_id (the tenant's own pseudonymous reference), links (ids
 * in other FinHub services), entity type and incorporation country of a business, and all times.
 * Only a closed customer can be erased; erasing twice changes nothing.
 */
export function erasePersonalData(c: Customer, now: Date): Customer {
  if (c.status !== "closed") {
    throw new AppError("FAILED_PRECONDITION", `customer ${c.id} must be closed before its personal data is erased`, {
      reason: "CUSTOMER_NOT_CLOSED",
      preconditions: [{ type: "CUSTOMER_NOT_CLOSED", subject: "status", description: "close the customer first (CloseCustomer)" }],
    });
  }
  if (c.eraseTime !== null) return c;
  const profile: Profile =
    c.profile.kind === "individual"
      ? { kind: "individual", givenName: "", middleName: "", familyName: "", dateOfBirth: null, nationality: "", taxResidencyCountry: "", nationalId: null, occupation: "" }
      : {
          kind: "business",
          legalName: "",
          tradingName: "",
          entityType: c.profile.entityType,
          registrationNumber: "",
          taxId: null,
          incorporationCountry: c.profile.incorporationCountry,
          incorporationDate: null,
          website: "",
          industry: "",
          representatives: [],
        };
  return {
    ...c,
    profile,
    email: "",
    emailVerified: false,
    emailVerifyTime: null,
    phoneNumber: null,
    phoneVerified: false,
    phoneVerifyTime: null,
    address: null,
    metadata: {},
    statusNote: "",
    eraseTime: now,
    version: c.version + 1,
    updateTime: now,
  };
}

export function addLink(c: Customer, kind: LinkKind, externalId: string, now: Date): Customer {
  if (c.status === "closed") throw closedError(c);
  if (c.links.some((l) => l.kind === kind && l.externalId === externalId)) {
    throw new AppError("ALREADY_EXISTS", `the customer already has this ${kind} link`, { reason: "LINK_ALREADY_EXISTS" });
  }
  if (c.links.length >= MAX_LINKS) {
    throw new AppError("FAILED_PRECONDITION", `a customer has at most ${MAX_LINKS} links`, { reason: "TOO_MANY_LINKS" });
  }
  return { ...c, links: [...c.links, { kind, externalId, linkTime: now }], version: c.version + 1, updateTime: now };
}

export function removeLink(c: Customer, kind: LinkKind, externalId: string, now: Date): Customer {
  const links = c.links.filter((l) => !(l.kind === kind && l.externalId === externalId));
  if (links.length === c.links.length) {
    throw new AppError("NOT_FOUND", `the customer has no such ${kind} link`, { reason: "LINK_NOT_FOUND" });
  }
  return { ...c, links, version: c.version + 1, updateTime: now };
}

export { allowedTransitions };

/** JSON with object keys sorted: equal values compare equal whatever order a jsonb column
 * returned their keys in. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v !== null && typeof v === "object" && !Array.isArray(v) && !(v instanceof Date)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}

/** Names (never values) of the fields that differ, for the audit trail. */
export function changedFields(before: Customer, after: Customer): string[] {
  const out: string[] = [];
  const top = ["email", "phoneNumber", "countryCode", "address", "externalId", "metadata"] as const;
  const snake: Record<string, string> = { phoneNumber: "phone_number", countryCode: "country_code", externalId: "external_id" };
  // The same value (unchanged fields are carried over by reference) needs no canonical form:
  // building two per field showed in the UpdateCustomer profile.
  for (const k of top) {
    if (before[k] !== after[k] && canonical(before[k]) !== canonical(after[k])) out.push(snake[k] ?? k);
  }
  const bp = before.profile as unknown as Record<string, unknown>;
  const ap = after.profile as unknown as Record<string, unknown>;
  for (const k of Object.keys(ap)) {
    if (k !== "kind" && bp[k] !== ap[k] && canonical(bp[k]) !== canonical(ap[k])) {
      out.push(`${after.type}.${k.replace(/[A-Z]/g, (m) => `_${m.toLowerCase()}`)}`);
    }
  }
  return out;
}

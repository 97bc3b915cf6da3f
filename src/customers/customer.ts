// The customer domain model and its creation rules. Pure: no protobuf, ORM or transport here.

export type CustomerType = "individual" | "business";
export type CustomerStatus = "pending" | "active" | "suspended" | "closed";

export interface IndividualProfile {
  readonly kind: "individual";
  readonly givenName: string;
  readonly familyName: string;
}

export interface BusinessProfile {
  readonly kind: "business";
  readonly legalName: string;
}

export type Profile = IndividualProfile | BusinessProfile;

export interface Customer {
  readonly tenantId: string;
  readonly id: string;
  readonly type: CustomerType;
  readonly status: CustomerStatus;
  readonly profile: Profile;
  readonly email: string;
  readonly emailVerified: boolean;
  readonly phoneNumber: string | null;
  readonly phoneVerified: boolean;
  readonly countryCode: string;
  readonly version: number;
  readonly createTime: Date;
  readonly updateTime: Date;
}

/** What a caller supplies to register a customer (shape already validated). */
export interface NewCustomer {
  readonly profile: Profile;
  readonly email: string;
  readonly phoneNumber: string | null;
  readonly countryCode: string;
}

/** Emails are compared and stored in lower case (RFC 5321 local parts are case-sensitive in
 * theory, but no provider a fintech customer uses treats them so, and duplicates hurt more). */
export function normaliseEmail(email: string): string {
  return email.trim().toLowerCase();
}

/** A new customer: PENDING, contacts unverified. */
export function registerCustomer(tenantId: string, id: string, input: NewCustomer, now: Date): Customer {
  return {
    tenantId,
    id,
    type: input.profile.kind,
    status: "pending",
    profile: input.profile,
    email: normaliseEmail(input.email),
    emailVerified: false,
    phoneNumber: input.phoneNumber,
    phoneVerified: false,
    countryCode: input.countryCode,
    version: 1,
    createTime: now,
    updateTime: now,
  };
}

// Protobuf <-> customer domain conversions, the handler's helpers (role suffix .proto.ts). Government identifiers
// leave only masked; on input an identifier without a value keeps the stored one of that type.
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import {
  BusinessEntityType as PbEntityType,
  CustomerSchema,
  CustomerStatus as PbStatus,
  CustomerType as PbType,
  LinkKind as PbLinkKind,
  RepresentativeRole as PbRole,
  StatusReason as PbReason,
  type Customer as PbCustomer,
  type GovernmentIdentifier as PbIdentifier,
  type Representative as PbRepresentative,
} from "../../gen/finhub/customer/v1/customer_pb.js";
import type { Date as PbDate } from "../../gen/google/type/date_pb.js";
import { invalidArgument, type FieldViolation } from "../errors.js";
import { createMessage } from "../server/proto-create.js";
import {
  allowedTransitions,
  type BusinessEntityType,
  type CalendarDate,
  type Customer,
  type CustomerStatus,
  type CustomerType,
  type LinkKind,
  type RepresentativeRole,
  type SealedIdentifier,
  type StatusReason,
} from "./customer.js";
import type { DetailsDraft, PlainIdentifier } from "./customer.service.js";

/** A two-way table between a domain string union and a protobuf enum. */
function enumMap<D extends string, P extends number>(pairs: ReadonlyArray<readonly [D, P]>) {
  const toPb = new Map(pairs);
  const fromPb = new Map(pairs.map(([d, p]) => [p, d] as const));
  return { toPb: (d: D) => toPb.get(d)!, fromPb: (p: P): D | undefined => fromPb.get(p) };
}

export const statusMap = enumMap<CustomerStatus, PbStatus>([
  ["pending", PbStatus.PENDING],
  ["active", PbStatus.ACTIVE],
  ["suspended", PbStatus.SUSPENDED],
  ["closed", PbStatus.CLOSED],
]);
export const typeMap = enumMap<CustomerType, PbType>([
  ["individual", PbType.INDIVIDUAL],
  ["business", PbType.BUSINESS],
]);
const entityTypeMap = enumMap<BusinessEntityType, PbEntityType>([
  ["sole_proprietorship", PbEntityType.SOLE_PROPRIETORSHIP],
  ["partnership", PbEntityType.PARTNERSHIP],
  ["llc", PbEntityType.LLC],
  ["corporation", PbEntityType.CORPORATION],
  ["non_profit", PbEntityType.NON_PROFIT],
  ["trust", PbEntityType.TRUST],
  ["other", PbEntityType.OTHER],
]);
const roleMap = enumMap<RepresentativeRole, PbRole>([
  ["director", PbRole.DIRECTOR],
  ["beneficial_owner", PbRole.BENEFICIAL_OWNER],
  ["controller", PbRole.CONTROLLER],
  ["authorized_signer", PbRole.AUTHORIZED_SIGNER],
]);
export const linkKindMap = enumMap<LinkKind, PbLinkKind>([
  ["kyc_case", PbLinkKind.KYC_CASE],
  ["wallet", PbLinkKind.WALLET],
  ["account", PbLinkKind.ACCOUNT],
  ["card", PbLinkKind.CARD],
]);
export const reasonMap = enumMap<StatusReason, PbReason>([
  ["onboarding_completed", PbReason.ONBOARDING_COMPLETED],
  ["customer_request", PbReason.CUSTOMER_REQUEST],
  ["fraud", PbReason.FRAUD],
  ["compliance_review", PbReason.COMPLIANCE_REVIEW],
  ["resolved", PbReason.RESOLVED],
  ["duplicate", PbReason.DUPLICATE],
  ["inactivity", PbReason.INACTIVITY],
  ["deceased_or_dissolved", PbReason.DECEASED_OR_DISSOLVED],
  ["other", PbReason.OTHER],
]);

const dateToPb = (d: CalendarDate | null) => (d === null ? undefined : { year: d.year, month: d.month, day: d.day });
const dateFromPb = (d: PbDate | undefined): CalendarDate | null =>
  d === undefined ? null : { year: d.year, month: d.month, day: d.day };
const identifierToPb = (id: SealedIdentifier | null) =>
  id === null ? undefined : { type: id.type, value: "", maskedValue: `…${id.last4}` };

/** `missing`: the paths still due before activation (Customer.missing_requirements). */
export function customerToProto(c: Customer, missing: readonly string[] = []): PbCustomer {
  const p = c.profile;
  return createMessage(CustomerSchema, {
    id: c.id,
    type: typeMap.toPb(c.type),
    status: statusMap.toPb(c.status),
    profile:
      p.kind === "individual"
        ? {
            case: "individual",
            value: {
              givenName: p.givenName,
              middleName: p.middleName,
              familyName: p.familyName,
              dateOfBirth: dateToPb(p.dateOfBirth),
              nationality: p.nationality,
              taxResidencyCountry: p.taxResidencyCountry,
              nationalId: identifierToPb(p.nationalId),
              occupation: p.occupation,
            },
          }
        : {
            case: "business",
            value: {
              legalName: p.legalName,
              tradingName: p.tradingName,
              entityType: p.entityType === null ? PbEntityType.UNSPECIFIED : entityTypeMap.toPb(p.entityType),
              registrationNumber: p.registrationNumber,
              taxId: identifierToPb(p.taxId),
              incorporationCountry: p.incorporationCountry,
              incorporationDate: dateToPb(p.incorporationDate),
              website: p.website,
              industry: p.industry,
              representatives: p.representatives.map((r) => ({
                id: r.id,
                givenName: r.givenName,
                familyName: r.familyName,
                dateOfBirth: dateToPb(r.dateOfBirth),
                nationality: r.nationality,
                email: r.email,
                roles: r.roles.map(roleMap.toPb),
                ownershipBasisPoints: r.ownershipBasisPoints,
                title: r.title,
              })),
            },
          },
    email: c.email,
    phoneNumber: c.phoneNumber ?? "",
    emailVerified: c.emailVerified,
    phoneVerified: c.phoneVerified,
    countryCode: c.countryCode,
    etag: String(c.version),
    createTime: timestampFromDate(c.createTime),
    updateTime: timestampFromDate(c.updateTime),
    address: c.address ?? undefined,
    externalId: c.externalId ?? "",
    metadata: { ...c.metadata },
    links: c.links.map((l) => ({ kind: linkKindMap.toPb(l.kind), externalId: l.externalId, linkTime: timestampFromDate(l.linkTime) })),
    statusReason: c.statusReason === null ? PbReason.UNSPECIFIED : reasonMap.toPb(c.statusReason),
    statusNote: c.statusNote,
    statusTime: timestampFromDate(c.statusTime),
    eraseTime: c.eraseTime ? timestampFromDate(c.eraseTime) : undefined,
    allowedTransitions: allowedTransitions(c.status).map(statusMap.toPb),
    emailVerifyTime: c.emailVerifyTime ? timestampFromDate(c.emailVerifyTime) : undefined,
    phoneVerifyTime: c.phoneVerifyTime ? timestampFromDate(c.phoneVerifyTime) : undefined,
    missingRequirements: [...missing],
  });
}

/**
 * The requested details from a (validated) protobuf Customer: the create request's customer, or
 * the field-mask merge of an update. An identifier whose value is empty keeps the stored one of
 * the same type; there must be one.
 */
export function draftFromProto(pb: PbCustomer, current: Customer | undefined): DetailsDraft {
  const violations: FieldViolation[] = [];
  const identifier = (
    field: string,
    id: PbIdentifier | undefined,
    stored: SealedIdentifier | null | undefined,
  ): PlainIdentifier | SealedIdentifier | null => {
    if (id === undefined) return null;
    if (id.value === "") {
      if (stored && stored.type === id.type) return stored;
      violations.push({
        field: `customer.${field}.value`,
        ruleId: "identifier.value_required",
        message: stored ? "is required when the identifier's type changes" : "is required",
      });
      return null;
    }
    if (id.value.replace(/[^A-Za-z0-9]/g, "").length < 4) {
      violations.push({ field: `customer.${field}.value`, ruleId: "identifier.value_min", message: "must have at least 4 letters or digits" });
    }
    return { type: id.type, value: id.value };
  };
  const cp = current?.profile;
  let profile: DetailsDraft["profile"];
  switch (pb.profile.case) {
    case "individual": {
      const v = pb.profile.value;
      profile = {
        kind: "individual",
        givenName: v.givenName,
        middleName: v.middleName,
        familyName: v.familyName,
        dateOfBirth: dateFromPb(v.dateOfBirth),
        nationality: v.nationality,
        taxResidencyCountry: v.taxResidencyCountry,
        nationalId: identifier("individual.national_id", v.nationalId, cp?.kind === "individual" ? cp.nationalId : undefined),
        occupation: v.occupation,
      };
      break;
    }
    case "business": {
      const v = pb.profile.value;
      profile = {
        kind: "business",
        legalName: v.legalName,
        tradingName: v.tradingName,
        entityType: entityTypeMap.fromPb(v.entityType) ?? null,
        registrationNumber: v.registrationNumber,
        taxId: identifier("business.tax_id", v.taxId, cp?.kind === "business" ? cp.taxId : undefined),
        incorporationCountry: v.incorporationCountry,
        incorporationDate: dateFromPb(v.incorporationDate),
        website: v.website,
        industry: v.industry,
        representatives: v.representatives.map((r: PbRepresentative) => ({
          id: r.id,
          givenName: r.givenName,
          familyName: r.familyName,
          dateOfBirth: dateFromPb(r.dateOfBirth),
          nationality: r.nationality,
          email: r.email.toLowerCase(),
          roles: r.roles.map((x) => roleMap.fromPb(x)!),
          ownershipBasisPoints: r.ownershipBasisPoints,
          title: r.title,
        })),
      };
      break;
    }
    default:
      throw invalidArgument([{ field: "customer.profile", ruleId: "required", message: "exactly one of individual or business is required" }]);
  }
  if (violations.length > 0) throw invalidArgument(violations);
  return {
    profile,
    email: pb.email,
    phoneNumber: pb.phoneNumber === "" ? null : pb.phoneNumber,
    countryCode: pb.countryCode,
    address: pb.address
      ? {
          line1: pb.address.line1,
          line2: pb.address.line2,
          city: pb.address.city,
          region: pb.address.region,
          postalCode: pb.address.postalCode,
          countryCode: pb.address.countryCode,
        }
      : null,
    externalId: pb.externalId === "" ? null : pb.externalId,
    metadata: { ...pb.metadata },
  };
}

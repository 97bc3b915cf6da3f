// Protobuf side of customer events (ListCustomerEvents, WatchCustomerEvents).
import { createHash } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import {
  CustomerEventSchema,
  EventType,
  StatusReason,
  type CustomerEvent,
} from "../../gen/finhub/customer/v1/customer_pb.js";
import { linkKindMap, reasonMap } from "../customers/customer.proto.js";
import type { LinkKind, StatusReason as DomainReason } from "../customers/customer.js";
import { invalidArgument } from "../errors.js";
import type { CustomerEventRow } from "./event.entity.js";

const TYPES: Record<string, EventType> = {
  CUSTOMER_CREATED: EventType.CUSTOMER_CREATED,
  CUSTOMER_UPDATED: EventType.CUSTOMER_UPDATED,
  EMAIL_VERIFIED: EventType.EMAIL_VERIFIED,
  PHONE_VERIFIED: EventType.PHONE_VERIFIED,
  CUSTOMER_ACTIVATED: EventType.CUSTOMER_ACTIVATED,
  CUSTOMER_SUSPENDED: EventType.CUSTOMER_SUSPENDED,
  CUSTOMER_CLOSED: EventType.CUSTOMER_CLOSED,
  CUSTOMER_LINKED: EventType.CUSTOMER_LINKED,
  CUSTOMER_UNLINKED: EventType.CUSTOMER_UNLINKED,
  CUSTOMER_ERASED: EventType.CUSTOMER_ERASED,
};
const TYPE_NAMES = new Map(Object.entries(TYPES).map(([k, v]) => [v, k]));

export function eventTypeName(t: EventType): string | undefined {
  return TYPE_NAMES.get(t);
}

/** A short fingerprint binding a cursor to its tenant (an integrity check, not a secret). */
function tenantTag(tenantId: string): string {
  return createHash("sha256").update(tenantId).digest("base64url").slice(0, 8);
}

/** Cursors are opaque to clients: "c1.<sequence>.<tenant tag>". */
export function encodeCursor(seq: number, tenantId: string): string {
  return `c1.${seq}.${tenantTag(tenantId)}`;
}

/** The sequence in a cursor of this tenant's stream; anything else is INVALID_CURSOR. */
export function decodeCursor(cursor: string, field: string, tenantId: string): number {
  if (cursor === "") return 0;
  const m = /^c1\.(\d{1,15})\.([A-Za-z0-9_-]{8})$/.exec(cursor);
  if (m === null || m[2] !== tenantTag(tenantId)) {
    throw invalidArgument([{ field, ruleId: "cursor.valid", message: "is not a cursor issued by this tenant's stream" }], "INVALID_CURSOR");
  }
  return Number(m[1]);
}

export function eventToProto(e: CustomerEventRow): CustomerEvent {
  const link = e.details?.link as { kind: LinkKind; externalId: string } | undefined;
  return create(CustomerEventSchema, {
    cursor: encodeCursor(e.seq, e.tenantId),
    sequence: BigInt(e.seq),
    type: TYPES[e.type] ?? EventType.UNSPECIFIED,
    customerId: e.customerId,
    actor: e.actor,
    requestId: e.requestId ?? "",
    reason: e.reason ? (reasonMap.toPb(e.reason as DomainReason) ?? StatusReason.UNSPECIFIED) : StatusReason.UNSPECIFIED,
    note: e.note,
    changedFields: e.changedFields,
    link: link ? { kind: linkKindMap.toPb(link.kind), externalId: link.externalId } : undefined,
    eventTime: timestampFromDate(e.time),
  });
}

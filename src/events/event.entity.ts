// The customer event log: one row per state change, written in the same transaction as the
// change (audit trail and outbox). Changed fields are recorded by name only, never by value.
//
// `seq` numbers a tenant's events 1, 2, 3, ... in COMMIT order: it is taken from the tenant's
// row in tenant_event_sequences, whose row lock is held until the transaction ends, so a later
// number can never become visible before an earlier one (a plain sequence would let a consumer
// reading `seq > cursor` skip a slow transaction's event). A rollback undoes the increment too,
// so there are no gaps.
import { BigIntType, EntitySchema } from "@mikro-orm/core";

export interface CustomerEventRow {
  tenantId: string;
  id: string;
  seq: number;
  customerId: string;
  /** CUSTOMER_CREATED, CUSTOMER_UPDATED, CUSTOMER_ACTIVATED, ... */
  type: string;
  /** "api_key:<id>", "session_token:<id>" or "system". */
  actor: string;
  requestId: string | null;
  reason: string | null;
  note: string;
  changedFields: string[];
  /** Type-specific facts without personal data, e.g. { link: { kind, externalId } }. */
  details: Record<string, unknown>;
  time: Date;
}

export const CustomerEventEntity = new EntitySchema<CustomerEventRow>({
  name: "CustomerEvent",
  tableName: "customer_events",
  properties: {
    tenantId: { type: "uuid", primary: true },
    id: { type: "uuid", primary: true },
    seq: { type: new BigIntType("number") },
    customerId: { type: "uuid" },
    type: { type: "text" },
    actor: { type: "text" },
    requestId: { type: "uuid", nullable: true },
    reason: { type: "text", nullable: true },
    note: { type: "text", defaultRaw: "''" },
    changedFields: { type: "json" },
    details: { type: "json", defaultRaw: "'{}'::jsonb" },
    time: { type: "Date", columnType: "timestamptz(6)" },
  },
  indexes: [{ name: "customer_events_tenant_id_customer_id_seq_idx", properties: ["tenantId", "customerId", "seq"] }],
  uniques: [{ name: "customer_events_tenant_id_seq_key", properties: ["tenantId", "seq"] }],
});

export interface TenantEventSequenceRow {
  tenantId: string;
  lastSeq: number;
}

export const TenantEventSequenceEntity = new EntitySchema<TenantEventSequenceRow>({
  name: "TenantEventSequence",
  tableName: "tenant_event_sequences",
  properties: {
    tenantId: { type: "uuid", primary: true },
    lastSeq: { type: new BigIntType("number") },
  },
});

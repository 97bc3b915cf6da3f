// The customer event log: one row per state change, written in the same transaction as the
// change (audit trail and outbox). Changed fields are recorded by name only, never by value.
//
// `seq` numbers a tenant's events 1, 2, 3, ... in the order they become visible, without gaps: the
// writing transaction inserts its event without a number, and after its commit the database
// function number_customer_events (migration event_numbering_after_commit, driven by
// event.sequencer.ts) numbers the tenant's committed, unnumbered events in `append_order`, one
// numbering at a time per tenant (it locks the tenant's row of tenant_event_sequences). A batch
// becomes visible whole, so a consumer reading `seq > cursor` never skips a number that appears
// later (a plain sequence in the writing transaction would let it skip a slow transaction's
// event); a rolled-back transaction leaves nothing to number, so there are no gaps. Reads of
// events take numbered ones only (`seq` is null for the moments between a commit and its
// numbering).
import { BigIntType, EntitySchema } from "@mikro-orm/core";

export interface CustomerEventRow {
  tenantId: string;
  id: string;
  /** Null between the commit and the numbering; every read filters those out. */
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
  appendOrder?: number | null;
}

export const CustomerEventEntity = new EntitySchema<CustomerEventRow>({
  name: "CustomerEvent",
  tableName: "customer_events",
  properties: {
    tenantId: { type: "uuid", primary: true },
    id: { type: "uuid", primary: true },
    seq: { type: new BigIntType("number"), nullable: true },
    /** The order events were appended in: what the numbering follows. Its default is nextval of
     * customer_events_append_order_seq (`autoincrement`: how MikroORM reads such a column back). */
    appendOrder: { type: new BigIntType("number"), nullable: true, autoincrement: true, hidden: true },
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
  indexes: [
    { name: "customer_events_tenant_id_customer_id_seq_idx", properties: ["tenantId", "customerId", "seq"] },
    {
      name: "customer_events_unnumbered_idx",
      expression: 'create index "customer_events_unnumbered_idx" on "customer_events" ("tenant_id", "append_order") where "seq" is null',
    },
  ],
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

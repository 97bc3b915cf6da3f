// The customer event log: one row per state change, written in the same transaction as the
// change (audit trail and outbox). Changed fields are recorded by name only, never by value.
import { EntitySchema } from "@mikro-orm/core";

export interface CustomerEventRow {
  tenantId: string;
  id: string;
  customerId: string;
  /** CUSTOMER_CREATED, CUSTOMER_UPDATED, CUSTOMER_ACTIVATED, ... */
  type: string;
  /** "api_key:<id>" or "admin". */
  actor: string;
  requestId: string | null;
  reason: string | null;
  note: string;
  changedFields: string[];
  time: Date;
}

export const CustomerEventEntity = new EntitySchema<CustomerEventRow>({
  name: "CustomerEvent",
  tableName: "customer_events",
  properties: {
    tenantId: { type: "uuid", primary: true },
    id: { type: "uuid", primary: true },
    customerId: { type: "uuid" },
    type: { type: "text" },
    actor: { type: "text" },
    requestId: { type: "uuid", nullable: true },
    reason: { type: "text", nullable: true },
    note: { type: "text", defaultRaw: "''" },
    changedFields: { type: "json" },
    time: { type: "Date", columnType: "timestamptz(6)" },
  },
  indexes: [{ name: "customer_events_tenant_id_customer_id_time_idx", properties: ["tenantId", "customerId", "time"] }],
});

// Idempotency records (AIP-155 request_id): the first response of a create, kept so a retry
// returns it. Claimed by inserting the row in the same transaction as the write itself.
import { EntitySchema } from "@mikro-orm/core";

export interface IdempotencyRow {
  /** The tenant, or ADMIN_SCOPE for operator calls (TenantService). */
  tenantId: string;
  requestId: string;
  /** Fully-qualified RPC name, e.g. "finhub.customer.v1.CustomerService/CreateCustomer". */
  method: string;
  /** SHA-256 of the request without its request_id: a reuse with another body is refused. */
  fingerprint: string;
  /** Sealed with the tenant's data key (db/envelope.ts) when it holds personal data. */
  response: Buffer | null;
  /** The customer the response shows, so erasing it can delete the stored copy. */
  resourceId: string | null;
  createTime: Date;
}

export const IdempotencyEntity = new EntitySchema<IdempotencyRow>({
  name: "IdempotencyRecord",
  tableName: "idempotency_records",
  properties: {
    tenantId: { type: "uuid", primary: true },
    requestId: { type: "uuid", primary: true },
    method: { type: "text" },
    fingerprint: { type: "text" },
    response: { type: "blob", columnType: "bytea", nullable: true },
    resourceId: { type: "uuid", nullable: true },
    createTime: { type: "Date", columnType: "timestamptz(6)" },
  },
  indexes: [
    { name: "idempotency_records_tenant_id_create_time_idx", properties: ["tenantId", "createTime"] },
    { name: "idempotency_records_tenant_id_resource_id_idx", properties: ["tenantId", "resourceId"] },
  ],
});

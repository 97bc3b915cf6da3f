// The customers table. tenant_id leads the primary key and every index so the table can be
// distributed by tenant unchanged. The profile (individual or business details) is one jsonb
// document: it is read and written whole with its customer.
import { EntitySchema } from "@mikro-orm/core";

export interface CustomerRow {
  tenantId: string;
  id: string;
  type: "individual" | "business";
  status: "pending" | "active" | "suspended" | "closed";
  profile: Record<string, unknown>;
  email: string;
  emailVerified: boolean;
  phoneNumber: string | null;
  phoneVerified: boolean;
  countryCode: string;
  version: number;
  createTime: Date;
  updateTime: Date;
}

export const CustomerEntity = new EntitySchema<CustomerRow>({
  name: "Customer",
  tableName: "customers",
  properties: {
    tenantId: { type: "uuid", primary: true },
    id: { type: "uuid", primary: true },
    type: { type: "text" },
    status: { type: "text" },
    profile: { type: "json" },
    email: { type: "text" },
    emailVerified: { type: "boolean", default: false },
    phoneNumber: { type: "text", nullable: true },
    phoneVerified: { type: "boolean", default: false },
    countryCode: { type: "character", length: 2 },
    version: { type: "integer", version: true },
    createTime: { type: "Date", columnType: "timestamptz(6)" },
    updateTime: { type: "Date", columnType: "timestamptz(6)" },
  },
  indexes: [
    { name: "customers_tenant_id_create_time_id_idx", properties: ["tenantId", "createTime", "id"] },
  ],
});

// The customers table. tenant_id leads the primary key and every index so the table can be
// distributed by tenant unchanged. Profile, address, metadata and links are jsonb documents read
// and written whole with their customer; government identifiers inside the profile are stored
// sealed (AES-256-GCM, see db/field-cipher.ts).
//
// Uniqueness per tenant among non-closed customers (email, phone, external_id) is enforced by
// partial unique indexes; separate plain indexes serve exact-match filters over all customers.
import { EntitySchema } from "@mikro-orm/core";

export interface CustomerRow {
  tenantId: string;
  id: string;
  type: string;
  status: string;
  profile: Record<string, unknown>;
  email: string;
  emailVerified: boolean;
  emailVerifyTime: Date | null;
  phoneNumber: string | null;
  phoneVerified: boolean;
  phoneVerifyTime: Date | null;
  countryCode: string;
  address: Record<string, unknown> | null;
  externalId: string | null;
  /** Keyed blind index (HMAC) of the government identifier, for exact-match lookups. */
  identifierIndex: string | null;
  /** When personal data was erased; null while it is held. */
  eraseTime: Date | null;
  metadata: Record<string, string>;
  links: Array<Record<string, unknown>>;
  statusReason: string | null;
  statusNote: string;
  statusTime: Date;
  version: number;
  createTime: Date;
  updateTime: Date;
}

const liveUnique = (name: string, column: string) => ({
  name,
  expression: `create unique index "${name}" on "customers" ("tenant_id", "${column}") where "status" <> 'closed' and "${column}" is not null`,
});

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
    emailVerifyTime: { type: "Date", columnType: "timestamptz(6)", nullable: true },
    phoneNumber: { type: "text", nullable: true },
    phoneVerified: { type: "boolean", default: false },
    phoneVerifyTime: { type: "Date", columnType: "timestamptz(6)", nullable: true },
    countryCode: { type: "character", length: 2 },
    address: { type: "json", nullable: true },
    externalId: { type: "text", nullable: true },
    identifierIndex: { type: "text", nullable: true },
    eraseTime: { type: "Date", columnType: "timestamptz(6)", nullable: true },
    metadata: { type: "json", defaultRaw: "'{}'::jsonb" },
    links: { type: "json", defaultRaw: "'[]'::jsonb" },
    statusReason: { type: "text", nullable: true },
    statusNote: { type: "text", defaultRaw: "''" },
    // The default only fills rows created before this column existed; the service always sets it.
    statusTime: { type: "Date", columnType: "timestamptz(6)", defaultRaw: "now()" },
    version: { type: "integer", version: true },
    createTime: { type: "Date", columnType: "timestamptz(6)" },
    updateTime: { type: "Date", columnType: "timestamptz(6)" },
  },
  indexes: [
    { name: "customers_tenant_id_create_time_id_idx", properties: ["tenantId", "createTime", "id"] },
    { name: "customers_tenant_id_email_idx", properties: ["tenantId", "email"] },
    { name: "customers_tenant_id_phone_number_idx", properties: ["tenantId", "phoneNumber"] },
    { name: "customers_tenant_id_external_id_idx", properties: ["tenantId", "externalId"] },
    { name: "customers_tenant_id_identifier_index_idx", properties: ["tenantId", "identifierIndex"] },
  ],
  uniques: [
    liveUnique("customers_live_email_key", "email"),
    liveUnique("customers_live_phone_number_key", "phone_number"),
    liveUnique("customers_live_external_id_key", "external_id"),
  ],
});

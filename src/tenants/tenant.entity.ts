// Tenants and their API keys. Both are small, read on every call's auth path, and span tenants
// by nature (a key is looked up before its tenant is known): in a distributed (Citus) deployment
// they are reference tables, replicated to every node. Every other table is distributed by
// tenant_id. See docs/architecture.md ("Data").
import { EntitySchema } from "@mikro-orm/core";

export interface TenantRow {
  id: string;
  displayName: string;
  /** Overrides of the verification defaults (verification/policy.ts); {} = all defaults. */
  verificationPolicy: { codeLength?: number; codeTtlMs?: number; maxAttempts?: number; sendBudgetPerMinute?: number };
  /** Channels, countries of operation, required fields, CORS origins; {} = the defaults. */
  settings: TenantSettings;
  version: number;
  createTime: Date;
  updateTime: Date;
}

export interface TenantSettings {
  /** "b2c" and/or "b2b"; absent = both. */
  channels?: Array<"b2c" | "b2b">;
  /** ISO alpha-2; absent or empty = every country. */
  countries?: string[];
  requiredFields?: string[];
  corsOrigins?: string[];
}

export const TenantEntity = new EntitySchema<TenantRow>({
  name: "Tenant",
  tableName: "tenants",
  properties: {
    id: { type: "uuid", primary: true },
    displayName: { type: "text" },
    verificationPolicy: { type: "json", defaultRaw: "'{}'::jsonb" },
    settings: { type: "json", defaultRaw: "'{}'::jsonb" },
    version: { type: "integer", version: true },
    createTime: { type: "Date", columnType: "timestamptz(6)" },
    updateTime: { type: "Date", columnType: "timestamptz(6)" },
  },
  indexes: [{ name: "tenants_create_time_id_idx", properties: ["createTime", "id"] }],
});

export interface ApiKeyRow {
  id: string;
  tenantId: string;
  displayName: string;
  /** First characters of the secret, for display. */
  prefix: string;
  /** SHA-256 of the whole secret, hex. The secret itself is never stored. */
  keyHash: string;
  /** What the key may do: "read", "write", "verify" (see server/scopes.ts). */
  scopes: ApiKeyScope[];
  createTime: Date;
  /** After this the key is refused; null = no expiry. */
  expireTime: Date | null;
  /** Last successful authentication, recorded at most once a minute per process. */
  lastUseTime: Date | null;
  revokeTime: Date | null;
}

export type ApiKeyScope = "read" | "write" | "verify";
export const ALL_API_KEY_SCOPES: readonly ApiKeyScope[] = ["read", "write", "verify"];

export const ApiKeyEntity = new EntitySchema<ApiKeyRow>({
  name: "ApiKey",
  tableName: "api_keys",
  properties: {
    id: { type: "uuid", primary: true },
    tenantId: { type: "uuid" },
    displayName: { type: "text" },
    prefix: { type: "text" },
    keyHash: { type: "text", unique: "api_keys_key_hash_key" },
    // Keys issued before scopes existed keep full access.
    scopes: { type: "json", defaultRaw: `'["read","write","verify"]'::jsonb` },
    createTime: { type: "Date", columnType: "timestamptz(6)" },
    expireTime: { type: "Date", columnType: "timestamptz(6)", nullable: true },
    lastUseTime: { type: "Date", columnType: "timestamptz(6)", nullable: true },
    revokeTime: { type: "Date", columnType: "timestamptz(6)", nullable: true },
  },
  indexes: [{ name: "api_keys_tenant_id_create_time_idx", properties: ["tenantId", "createTime"] }],
});

/** The record of every change to a tenant (who, when, which settings: names, not values). */
export interface TenantAuditRow {
  tenantId: string;
  id: string;
  /** "TENANT_CREATED" or "TENANT_UPDATED". */
  type: string;
  /** "admin" (the operator token). */
  actor: string;
  changedFields: string[];
  /** The tenant's version (etag) after the change. */
  version: number;
  time: Date;
}

export const TenantAuditEntity = new EntitySchema<TenantAuditRow>({
  name: "TenantAudit",
  tableName: "tenant_audit",
  properties: {
    tenantId: { type: "uuid", primary: true },
    id: { type: "uuid", primary: true },
    type: { type: "text" },
    actor: { type: "text" },
    changedFields: { type: "json" },
    version: { type: "integer" },
    time: { type: "Date", columnType: "timestamptz(6)" },
  },
  indexes: [{ name: "tenant_audit_tenant_id_time_idx", properties: ["tenantId", "time"] }],
});

/** A tenant's data encryption key (DEK), wrapped (AES-256-GCM) by a master key: see
 * db/envelope.ts. One per tenant; a master key rotation rewraps it, the data stays as it is. */
export interface TenantDataKeyRow {
  tenantId: string;
  /** Names the DEK inside every ciphertext it seals ("d" + 8 hex). */
  keyId: string;
  /** "w1.<master key id>.<iv>.<ciphertext>.<tag>", base64url parts. */
  wrappedKey: string;
  createTime: Date;
  updateTime: Date;
}

export const TenantDataKeyEntity = new EntitySchema<TenantDataKeyRow>({
  name: "TenantDataKey",
  tableName: "tenant_data_keys",
  properties: {
    tenantId: { type: "uuid", primary: true },
    keyId: { type: "text" },
    wrappedKey: { type: "text" },
    createTime: { type: "Date", columnType: "timestamptz(6)" },
    updateTime: { type: "Date", columnType: "timestamptz(6)" },
  },
});

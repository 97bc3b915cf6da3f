// Session tokens: short-lived credentials for one customer's onboarding from a browser or app
// (CustomerService.CreateSessionToken). Tenant data like any other: tenant_id leads the primary
// key and every index, and row-level security applies.
import { EntitySchema } from "@mikro-orm/core";

export interface SessionTokenRow {
  tenantId: string;
  id: string;
  /** SHA-256 of the whole secret, hex. The secret itself is never stored. */
  tokenHash: string;
  /** The API key that minted it: revoking that key revokes the token. */
  apiKeyId: string;
  /** The customer it acts for; null until it has created one (then set once, for good). */
  customerId: string | null;
  /** Browser origins allowed to use it; empty = the tenant's CORS origins. */
  allowedOrigins: string[];
  createTime: Date;
  expireTime: Date;
}

export const SessionTokenEntity = new EntitySchema<SessionTokenRow>({
  name: "SessionToken",
  tableName: "session_tokens",
  properties: {
    tenantId: { type: "uuid", primary: true },
    id: { type: "uuid", primary: true },
    tokenHash: { type: "text" },
    apiKeyId: { type: "uuid" },
    customerId: { type: "uuid", nullable: true },
    allowedOrigins: { type: "json", defaultRaw: "'[]'::jsonb" },
    createTime: { type: "Date", columnType: "timestamptz(6)" },
    expireTime: { type: "Date", columnType: "timestamptz(6)" },
  },
  uniques: [{ name: "session_tokens_tenant_id_token_hash_key", properties: ["tenantId", "tokenHash"] }],
  indexes: [{ name: "session_tokens_tenant_id_expire_time_idx", properties: ["tenantId", "expireTime"] }],
});

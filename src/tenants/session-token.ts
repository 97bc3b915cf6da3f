// Session token secrets: "cms_st_" + the tenant's id (16 bytes, base64url) + 32 random bytes
// (base64url). The tenant id inside lets authentication look the token up in its tenant's scope
// (row-level security, distributable by tenant) instead of across tenants; the random part
// carries the secret's 256 bits. Only the SHA-256 hash is stored, like API keys.
import { createHash, randomBytes } from "node:crypto";

export const SESSION_TOKEN_PREFIX = "cms_st_";
const TENANT_PART = 22; // base64url of 16 bytes
const SECRET_PART = 43; // base64url of 32 bytes
const SHAPE = new RegExp(`^${SESSION_TOKEN_PREFIX}[A-Za-z0-9_-]{${TENANT_PART + SECRET_PART}}$`);

export interface NewSessionToken {
  readonly secret: string;
  readonly hash: string;
}

export function hashSessionToken(secret: string): string {
  return createHash("sha256").update(secret).digest("hex");
}

export function generateSessionToken(tenantId: string): NewSessionToken {
  const tenant = Buffer.from(tenantId.replace(/-/g, ""), "hex").toString("base64url");
  const secret = SESSION_TOKEN_PREFIX + tenant + randomBytes(32).toString("base64url");
  return { secret, hash: hashSessionToken(secret) };
}

/** Cheap syntactic check before touching the database. */
export function looksLikeSessionToken(token: string): boolean {
  return SHAPE.test(token);
}

/** The tenant id a well-formed token names (not yet proof of anything). */
export function sessionTokenTenant(token: string): string {
  const hex = Buffer.from(token.slice(SESSION_TOKEN_PREFIX.length, SESSION_TOKEN_PREFIX.length + TENANT_PART), "base64url").toString("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

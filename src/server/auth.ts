// Authentication: `authorization: Bearer <credential>` decides the principal. Services declare
// whom they serve: "admin" (the operator token) or "tenant" (a tenant's API key). The tenant
// comes from the key, never from the request message.
import { timingSafeEqual, createHash } from "node:crypto";
import { AppError } from "../errors.js";
import type { Middleware, Principal } from "./pipeline.js";

/** Resolves a tenant API key to its principal; undefined for unknown or revoked keys. */
export interface ApiKeyAuthenticator {
  authenticate(secret: string): Promise<Principal | undefined>;
}

export type Audience = "admin" | "tenant";

const BEARER = /^Bearer ([\x21-\x7e]{1,512})$/;

function unauthenticated(message: string, reason: string): AppError {
  return new AppError("UNAUTHENTICATED", message, { reason });
}

const sha256 = (s: string) => createHash("sha256").update(s).digest();

export function authMiddleware(audience: Audience, adminToken: string, keys: ApiKeyAuthenticator): Middleware {
  const adminDigest = sha256(adminToken);
  const isAdmin = (token: string) => timingSafeEqual(sha256(token), adminDigest);
  return async (call, next) => {
    const header = call.header.get("authorization");
    if (header === null) {
      throw unauthenticated("missing `authorization: Bearer <credential>` metadata", "CREDENTIALS_MISSING");
    }
    const token = BEARER.exec(header)?.[1];
    if (token === undefined) {
      throw unauthenticated("`authorization` metadata must be `Bearer <credential>`", "CREDENTIALS_MALFORMED");
    }
    if (audience === "admin") {
      if (isAdmin(token)) {
        call.principal = { kind: "admin" };
        return next(call);
      }
      if (await keys.authenticate(token)) {
        throw new AppError("PERMISSION_DENIED", "tenant API keys cannot call TenantService; use the admin token", {
          reason: "ADMIN_ONLY",
        });
      }
      throw unauthenticated("invalid admin token", "CREDENTIALS_INVALID");
    }
    const principal = await keys.authenticate(token);
    if (principal === undefined) {
      if (isAdmin(token)) {
        throw new AppError("PERMISSION_DENIED", "the admin token cannot act as a tenant; use the tenant's API key", {
          reason: "TENANT_KEY_REQUIRED",
        });
      }
      throw unauthenticated("unknown or revoked API key", "CREDENTIALS_INVALID");
    }
    call.principal = principal;
    return next(call);
  };
}

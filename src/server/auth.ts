// Authentication: `authorization: Bearer <credential>` decides the principal. Services declare
// whom they serve: "admin" (the operator token) or "tenant" (a tenant's API key). The tenant
// comes from the key, never from the request message; the key's scopes must cover the RPC
// (server/permissions.ts). Failed attempts are counted per client address (auth-failures.ts).
import { timingSafeEqual, createHash } from "node:crypto";
import { AppError } from "../errors.js";
import type { AuthFailures } from "./auth-failures.js";
import { requiredScope } from "./permissions.js";
import type { Middleware, Principal } from "./pipeline.js";

export type KeyCheck =
  | { readonly ok: true; readonly principal: Extract<Principal, { kind: "tenant" }> }
  | { readonly ok: false; readonly reason: "unknown" | "expired" };

/** Resolves a tenant API key to its principal. */
export interface ApiKeyAuthenticator {
  authenticate(secret: string): Promise<KeyCheck>;
}

export type Audience = "admin" | "tenant";

const BEARER = /^Bearer ([\x21-\x7e]{1,512})$/;

function unauthenticated(message: string, reason: string): AppError {
  return new AppError("UNAUTHENTICATED", message, { reason });
}

const sha256 = (s: string) => createHash("sha256").update(s).digest();

export function authMiddleware(audience: Audience, adminToken: string, keys: ApiKeyAuthenticator, failures: AuthFailures): Middleware {
  const adminDigest = sha256(adminToken);
  const isAdmin = (token: string) => timingSafeEqual(sha256(token), adminDigest);
  /** Counts the failure (may turn it into RESOURCE_EXHAUSTED), then throws `err`. */
  const refuse = async (peer: string, err: AppError): Promise<never> => {
    await failures.failed(peer);
    throw err;
  };
  return async (call, next) => {
    failures.check(call.peer);
    const header = call.header.get("authorization");
    if (header === null) {
      throw unauthenticated("missing `authorization: Bearer <credential>` metadata", "CREDENTIALS_MISSING");
    }
    const token = BEARER.exec(header)?.[1];
    if (token === undefined) {
      return refuse(call.peer, unauthenticated("`authorization` metadata must be `Bearer <credential>`", "CREDENTIALS_MALFORMED"));
    }
    if (audience === "admin") {
      if (isAdmin(token)) {
        call.principal = { kind: "admin" };
        return next(call);
      }
      if ((await keys.authenticate(token)).ok) {
        throw new AppError("PERMISSION_DENIED", "tenant API keys cannot call TenantService; use the admin token", {
          reason: "ADMIN_ONLY",
        });
      }
      return refuse(call.peer, unauthenticated("invalid admin token", "CREDENTIALS_INVALID"));
    }
    const check = await keys.authenticate(token);
    if (!check.ok) {
      if (isAdmin(token)) {
        throw new AppError("PERMISSION_DENIED", "the admin token cannot act as a tenant; use the tenant's API key", {
          reason: "TENANT_KEY_REQUIRED",
        });
      }
      return refuse(
        call.peer,
        check.reason === "expired"
          ? unauthenticated("the API key has expired; use another key of the tenant", "API_KEY_EXPIRED")
          : unauthenticated("unknown or revoked API key", "CREDENTIALS_INVALID"),
      );
    }
    const needed = requiredScope(call.method);
    if (needed === undefined || !check.principal.scopes.includes(needed)) {
      throw new AppError("PERMISSION_DENIED", `this API key lacks the "${needed ?? "?"}" scope that ${call.method.name} requires`, {
        reason: "API_KEY_SCOPE_INSUFFICIENT",
        metadata: { required_scope: needed ?? "", api_key_id: check.principal.apiKeyId },
      });
    }
    call.principal = check.principal;
    return next(call);
  };
}

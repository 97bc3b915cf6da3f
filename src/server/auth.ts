// Authentication: `authorization: Bearer <credential>` decides the principal. Services declare
// whom they serve: "admin" (the operator token) or "tenant" (a tenant's API key, or a session
// token minted with one). The tenant comes from the credential, never from the request message;
// an API key's scopes must cover the RPC (server/permissions.ts); a session token may call only
// its onboarding RPCs (server/session-guard.ts), and from a browser only from its origins.
// Failed attempts are counted per client address (auth-failures.ts).
import { timingSafeEqual, createHash } from "node:crypto";
import { AppError } from "../errors.js";
import type { AuthFailures } from "./auth-failures.js";
import { requiredScope } from "./permissions.js";
import type { Middleware, Principal, SessionGrant } from "./pipeline.js";
import { sessionMayCall, sessionNotAllowed } from "./session-guard.js";
import { looksLikeSessionToken } from "../tenants/session-token.js";

export type KeyCheck =
  | { readonly ok: true; readonly principal: Extract<Principal, { kind: "tenant" }> }
  | { readonly ok: false; readonly reason: "unknown" | "expired" };

/** Resolves a tenant API key to its principal. */
export interface ApiKeyAuthenticator {
  /** Cached; a lookup is shared by the calls that miss together, so it is bounded on its own,
   * not by one call's deadline (the deadline middleware still ends each call at its own). */
  authenticate(secret: string): Promise<KeyCheck>;
}

export type SessionPrincipal = Extract<Principal, { kind: "tenant" }> & { readonly session: SessionGrant };

export type SessionCheck =
  | { readonly ok: true; readonly principal: SessionPrincipal }
  | { readonly ok: false; readonly reason: "unknown" | "expired" };

/** Resolves a session token to its principal; `fresh` skips any cache. */
export interface SessionAuthenticator {
  authenticate(token: string, options?: { readonly fresh?: boolean; readonly deadline?: number }): Promise<SessionCheck>;
}

export interface Credentials {
  readonly adminToken: string;
  readonly keys: ApiKeyAuthenticator;
  readonly sessions: SessionAuthenticator;
  /** The browser origins a tenant allows (CUSTOMERMS_CORS_ORIGINS plus its cors_origins). */
  readonly tenantOrigins: (tenantId: string) => Promise<readonly string[]>;
  readonly failures: AuthFailures;
}

export type Audience = "admin" | "tenant";

const BEARER = /^Bearer ([\x21-\x7e]{1,512})$/;

function unauthenticated(message: string, reason: string): AppError {
  return new AppError("UNAUTHENTICATED", message, { reason });
}

const sha256 = (s: string) => createHash("sha256").update(s).digest();

export function authMiddleware(audience: Audience, credentials: Credentials): Middleware {
  const { keys, sessions, failures } = credentials;
  const adminDigest = sha256(credentials.adminToken);
  const isAdmin = (token: string) => timingSafeEqual(sha256(token), adminDigest);
  /** Counts the failure (may turn it into RESOURCE_EXHAUSTED), then throws `err`. */
  const refuse = async (peer: string, err: AppError): Promise<never> => {
    await failures.failed(peer);
    throw err;
  };
  /** A session token's principal, or the refusal (unknown, expired, RPC or origin not allowed). */
  const session = async (call: Parameters<Middleware>[0], token: string): Promise<Principal> => {
    let check = await sessions.authenticate(token, { deadline: call.deadline });
    // An unbound token may have created its customer on another replica since it was cached.
    if (check.ok && check.principal.session.customerId === null && call.method.name !== "CreateCustomer") {
      check = await sessions.authenticate(token, { fresh: true, deadline: call.deadline });
    }
    if (!check.ok) {
      return refuse(
        call.peer,
        check.reason === "expired"
          ? unauthenticated("the session token has expired; ask the backend for a new one", "SESSION_TOKEN_EXPIRED")
          : unauthenticated("unknown session token, or its API key was revoked", "CREDENTIALS_INVALID"),
      );
    }
    if (!sessionMayCall(call.method)) throw sessionNotAllowed(call.method);
    const origin = call.header.get("origin");
    if (origin !== null) {
      const { tenantId, session: grant } = check.principal;
      const allowed = grant.allowedOrigins.length > 0 ? grant.allowedOrigins : await credentials.tenantOrigins(tenantId);
      if (!allowed.includes(origin)) {
        throw new AppError("PERMISSION_DENIED", "this session token cannot be used from this origin", { reason: "ORIGIN_NOT_ALLOWED" });
      }
    }
    return check.principal;
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
    // Session tokens are longer than API keys ("cms_st_" + 65 characters): the shapes never overlap.
    const isSession = looksLikeSessionToken(token);
    if (audience === "admin") {
      if (isAdmin(token)) {
        call.principal = { kind: "admin" };
        return await next(call);
      }
      if ((isSession ? await sessions.authenticate(token, { deadline: call.deadline }) : await keys.authenticate(token)).ok) {
        throw new AppError("PERMISSION_DENIED", "tenant credentials cannot call TenantService; use the admin token", {
          reason: "ADMIN_ONLY",
        });
      }
      return refuse(call.peer, unauthenticated("invalid admin token", "CREDENTIALS_INVALID"));
    }
    if (isSession) {
      call.principal = await session(call, token);
      return await next(call);
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
    return await next(call);
  };
}

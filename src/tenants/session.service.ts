// Session tokens: a tenant's backend mints one (with its secret API key) for one customer's
// onboarding in a browser or app; the front end calls a few CustomerService and
// VerificationService RPCs with it (server/session-guard.ts says which). A token minted without
// a customer may create exactly one, and is bound to it in the same transaction. Lookups run in
// the token's tenant scope (the tenant id is part of the token) in one round trip, and are
// cached briefly like API keys; an unbound token is always read afresh, so a binding made on
// another replica is seen at once.
import { randomUUID } from "node:crypto";
import type { EntityManager } from "@mikro-orm/postgresql";
import { AppError } from "../errors.js";
import type { Scopes } from "../db/scope.js";
import type { SessionAuthenticator, SessionCheck, SessionPrincipal } from "../server/auth.js";
import { generateSessionToken, hashSessionToken, looksLikeSessionToken, sessionTokenTenant } from "./session-token.js";
import { SessionTokenEntity, type SessionTokenRow } from "./session.entity.js";
import { ApiKeyEntity } from "./tenant.entity.js";
import { API_KEY_CACHE_TTL_MS } from "./tenant.service.js";

export const SESSION_TTL_DEFAULT_MS = 30 * 60_000;
const CACHE_MAX = 10_000;

export interface NewSession {
  readonly tenantId: string;
  /** The minting key: a token never outlives it (expiry), and dies with it (revocation). */
  readonly apiKeyId: string;
  readonly customerId: string | null;
  readonly ttlMs: number;
  readonly allowedOrigins: readonly string[];
}

interface Found {
  id: string;
  customer_id: string | null;
  allowed_origins: string[];
  expire_time: Date;
  api_key_id: string;
  key_revoke_time: Date | null;
}

export class SessionService implements SessionAuthenticator {
  private readonly cache = new Map<string, { principal: SessionPrincipal; expires: number }>();

  constructor(
    private readonly scopes: Scopes,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** Inserts a new token in the caller's tenant transaction; the secret is returned once. */
  async mint(em: EntityManager, input: NewSession): Promise<{ secret: string; row: SessionTokenRow }> {
    const now = this.now();
    const key = await em.findOne(ApiKeyEntity, { tenantId: input.tenantId, id: input.apiKeyId }, { fields: ["expireTime"] });
    const wanted = now.getTime() + input.ttlMs;
    const expire = new Date(Math.min(wanted, key?.expireTime?.getTime() ?? Infinity));
    const token = generateSessionToken(input.tenantId);
    const row: SessionTokenRow = {
      tenantId: input.tenantId,
      id: randomUUID(),
      tokenHash: token.hash,
      apiKeyId: input.apiKeyId,
      customerId: input.customerId,
      allowedOrigins: [...input.allowedOrigins],
      createTime: now,
      expireTime: expire,
    };
    await em.insert(SessionTokenEntity, row);
    return { secret: token.secret, row };
  }

  /**
   * Binds an unbound token to the customer its CreateCustomer just made, in that transaction (a
   * refusal rolls the customer back). A token bound already, or bound meanwhile by a concurrent
   * create, is refused.
   */
  async bind(em: EntityManager, tenantId: string, sessionId: string, customerId: string): Promise<void> {
    const affected = await em.nativeUpdate(SessionTokenEntity, { tenantId, id: sessionId, customerId: null }, { customerId });
    if (affected !== 1) {
      throw new AppError("PERMISSION_DENIED", "this session token has already registered a customer; it can act only for that one", {
        reason: "SESSION_TOKEN_ALREADY_BOUND",
      });
    }
    for (const [hash, entry] of this.cache) if (entry.principal.session.id === sessionId) this.cache.delete(hash);
  }

  async authenticate(token: string, options: { readonly fresh?: boolean; readonly deadline?: number } = {}): Promise<SessionCheck> {
    if (!looksLikeSessionToken(token)) return { ok: false, reason: "unknown" };
    const hash = hashSessionToken(token);
    const nowMs = this.now().getTime();
    const cached = this.cache.get(hash);
    if (options.fresh !== true && cached !== undefined && cached.expires > nowMs) return { ok: true, principal: cached.principal };
    const tenantId = sessionTokenTenant(token);
    const [found] = await this.scopes.tenantRead<Found>(
      tenantId,
      (lit) => `select s.id, s.customer_id, s.allowed_origins, s.expire_time, s.api_key_id, k.revoke_time as key_revoke_time
        from session_tokens s join api_keys k on k.tenant_id = s.tenant_id and k.id = s.api_key_id
        where s.tenant_id = ${lit(tenantId)} and s.token_hash = ${lit(hash)}`,
      options.deadline,
    );
    if (found === undefined || found.key_revoke_time !== null) {
      this.cache.delete(hash);
      return { ok: false, reason: "unknown" };
    }
    const expires = new Date(found.expire_time).getTime();
    if (expires <= nowMs) {
      this.cache.delete(hash);
      return { ok: false, reason: "expired" };
    }
    const principal: SessionPrincipal = {
      kind: "tenant",
      tenantId,
      apiKeyId: found.api_key_id,
      scopes: [],
      session: { id: found.id, customerId: found.customer_id, allowedOrigins: found.allowed_origins },
    };
    if (this.cache.size >= CACHE_MAX) this.cache.clear();
    this.cache.set(hash, { principal, expires: Math.min(nowMs + API_KEY_CACHE_TTL_MS, expires) });
    return { ok: true, principal };
  }
}

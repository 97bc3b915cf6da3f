// Tenant use cases: create tenants with their first key, read and list them, issue, list and
// revoke API keys, and authenticate keys (with a short-lived cache so every call does not cost a
// database round trip; revocation reaches other replicas within the cache TTL). Key lookups span
// tenants, so they run as the operator role (db/scope.ts); a tenant's own row is read in its scope.
import { randomUUID } from "node:crypto";
import type { EntityManager } from "@mikro-orm/postgresql";
import { invalidArgument, notFound } from "../errors.js";
import type { ApiKeyAuthenticator, KeyCheck } from "../server/auth.js";
import type { Scopes } from "../db/scope.js";
import { generateApiKey, hashApiKey, looksLikeApiKey } from "./api-key.js";
import { AppError } from "../errors.js";
import { ALL_API_KEY_SCOPES, ApiKeyEntity, TenantAuditEntity, TenantEntity, type ApiKeyRow, type ApiKeyScope, type TenantRow, type TenantSettings } from "./tenant.entity.js";
import type { TenantPageCursor, TenantRepository } from "./tenant.repository.js";
import { LookupCache, type Lookup } from "./lookup-cache.js";

export interface NewTenant {
  readonly displayName: string;
  readonly verificationPolicy: TenantRow["verificationPolicy"];
  readonly settings: TenantSettings;
}

/** What the customer and verification use cases need to know of a tenant. */
export interface TenantProfile {
  readonly displayName: string;
  readonly verificationPolicy: TenantRow["verificationPolicy"];
  readonly settings: TenantSettings;
}

export interface NewApiKey {
  readonly displayName: string;
  /** Empty: all scopes. */
  readonly scopes: readonly ApiKeyScope[];
  readonly expireTime: Date | null;
}

export interface IssuedKey {
  /** The secret: returned once, never stored. */
  readonly secret: string;
  readonly key: ApiKeyRow;
}

/** How long a successful key lookup is trusted before the database is asked again. */
export const API_KEY_CACHE_TTL_MS = 2_000;
/** The statement_timeout of a key lookup (shared by calls, so not any one call's deadline). */
const KEY_LOOKUP_TIMEOUT_MS = 5_000;
/** From this age on, a cached key or tenant profile is looked up again in the background. */
export const API_KEY_CACHE_REFRESH_MS = 1_000;
const API_KEY_CACHE_MAX = 10_000;
/** last_use_time is written at most this often per key and process. */
export const API_KEY_USE_RECORD_MS = 60_000;

type TenantPrincipal = Extract<KeyCheck, { ok: true }>["principal"];

export class TenantService implements ApiKeyAuthenticator {
  /** By key hash: one lookup at a time per key, refreshed ahead of expiry (lookup-cache.ts). */
  private readonly keyCache: LookupCache<KeyCheck>;
  private readonly profileCache: LookupCache<TenantProfile>;
  private readonly usesRecorded = new Map<string, number>();

  constructor(
    private readonly scopes: Scopes,
    private readonly repo: TenantRepository,
    private readonly now: () => Date = () => new Date(),
    /** Where a failed background write (last_use_time) or refresh is reported. */
    private readonly warn: (message: string, err: Error) => void = () => undefined,
  ) {
    const options = (what: string) => ({
      ttlMs: API_KEY_CACHE_TTL_MS,
      refreshAfterMs: API_KEY_CACHE_REFRESH_MS,
      max: API_KEY_CACHE_MAX,
      now: () => this.now().getTime(),
      onRefreshError: (err: Error) => this.warn(`could not refresh a cached ${what}; keeping it until it expires`, err),
    });
    this.keyCache = new LookupCache(options("API key"));
    this.profileCache = new LookupCache(options("tenant profile"));
  }

  async createTenant(em: EntityManager, input: NewTenant): Promise<{ tenant: TenantRow } & IssuedKey> {
    const now = this.now();
    const tenant: TenantRow = {
      id: randomUUID(),
      displayName: input.displayName,
      verificationPolicy: input.verificationPolicy,
      settings: input.settings,
      version: 1,
      createTime: now,
      updateTime: now,
    };
    await this.repo.insertTenant(em, tenant);
    await this.audit(em, tenant, "TENANT_CREATED", []);
    const issued = await this.insertKey(em, tenant.id, { displayName: "initial", scopes: [], expireTime: null }, now);
    return { tenant, ...issued };
  }

  async getTenant(em: EntityManager, id: string): Promise<TenantRow> {
    const tenant = await this.repo.findTenant(em, id);
    if (tenant === null) throw notFound("TENANT_NOT_FOUND", `tenant ${id} not found`);
    return tenant;
  }

  /**
   * The tenant's name, verification policy and settings, cached like API keys (changes show
   * within the TTL). Inside a transaction pass its EntityManager: reading on a second pooled
   * connection while the transaction holds one can exhaust the pool (and deadlocks PGlite).
   */
  profile(tenantId: string, em?: EntityManager): Promise<TenantProfile> {
    const load = async (tx: EntityManager) => {
      const t = await this.getTenant(tx, tenantId);
      const profile: TenantProfile = { displayName: t.displayName, verificationPolicy: t.verificationPolicy ?? {}, settings: t.settings ?? {} };
      return { result: profile, cacheUntil: Infinity };
    };
    return this.profileCache.get(
      tenantId,
      () => this.scopes.tenant(tenantId)(load),
      // Inside a transaction a miss reads on that transaction's connection.
      em === undefined ? undefined : () => load(em),
    );
  }

  /** Applies `change` to the stored tenant if `etag` (when given) is current; optimistic. */
  async updateTenant(em: EntityManager, id: string, etag: string, change: (t: TenantRow) => TenantRow): Promise<TenantRow> {
    const current = await this.getTenant(em, id);
    if (etag !== "" && etag !== String(current.version)) {
      throw new AppError("ABORTED", `etag "${etag}" is stale: the tenant is at "${current.version}"`, {
        reason: "ETAG_MISMATCH",
        metadata: { current_etag: String(current.version) },
      });
    }
    const next = { ...change(current), id, version: current.version + 1, updateTime: this.now() };
    const { id: _id, version: _v, createTime: _c, ...changes } = next;
    const affected = await em.nativeUpdate(TenantEntity, { id, version: current.version }, { ...changes, version: next.version });
    if (affected !== 1) {
      throw new AppError("ABORTED", "the tenant was changed by another request meanwhile; read it again", { reason: "CONCURRENT_MODIFICATION" });
    }
    const changed = (["displayName", "verificationPolicy", "settings"] as const).flatMap((k) =>
      k === "settings"
        ? (["channels", "countries", "requiredFields", "corsOrigins"] as const)
            .filter((sk) => JSON.stringify(current.settings?.[sk] ?? null) !== JSON.stringify(next.settings?.[sk] ?? null))
            .map((sk) => ({ channels: "channels", countries: "countries_of_operation", requiredFields: "required_fields", corsOrigins: "cors_origins" })[sk])
        : JSON.stringify(current[k]) !== JSON.stringify(next[k])
          ? [k === "displayName" ? "display_name" : "verification_policy"]
          : [],
    );
    await this.audit(em, next, "TENANT_UPDATED", changed);
    this.profileCache.delete(id);
    return next;
  }

  private async audit(em: EntityManager, t: TenantRow, type: string, changedFields: string[]): Promise<void> {
    await em.insert(TenantAuditEntity, { tenantId: t.id, id: randomUUID(), type, actor: "admin", changedFields, version: t.version, time: t.updateTime });
  }

  allCorsOrigins(): Promise<string[]> {
    return this.scopes.operator("cors-origins")((em) => this.repo.allCorsOrigins(em));
  }

  listTenants(em: EntityManager, limit: number, after: TenantPageCursor | undefined): Promise<TenantRow[]> {
    return this.repo.listTenants(em, limit, after);
  }

  async createApiKey(em: EntityManager, tenantId: string, input: NewApiKey): Promise<IssuedKey> {
    const now = this.now();
    if (input.expireTime !== null && input.expireTime.getTime() <= now.getTime()) {
      throw invalidArgument([{ field: "key.expire_time", ruleId: "expire_time.future", message: "must be in the future" }]);
    }
    await this.getTenant(em, tenantId);
    return this.insertKey(em, tenantId, input, now);
  }

  async listApiKeys(em: EntityManager, tenantId: string, limit: number, before: TenantPageCursor | undefined): Promise<ApiKeyRow[]> {
    await this.getTenant(em, tenantId);
    return this.repo.listApiKeys(em, tenantId, limit, before);
  }

  async revokeApiKey(em: EntityManager, tenantId: string, keyId: string): Promise<ApiKeyRow> {
    const key = await this.repo.revokeApiKey(em, tenantId, keyId, this.now());
    if (key === null) throw notFound("API_KEY_NOT_FOUND", `API key ${keyId} not found`);
    this.keyCache.delete(key.keyHash);
    return key;
  }

  /**
   * The call's deadline is not passed down: the lookup is shared by the calls that miss together
   * and a refresh runs after the call that started it, so it has its own bound
   * (KEY_LOOKUP_TIMEOUT_MS); a call still stops waiting at its own deadline (deadline middleware).
   */
  async authenticate(secret: string): Promise<KeyCheck> {
    if (!looksLikeApiKey(secret)) return { ok: false, reason: "unknown" };
    const hash = hashApiKey(secret);
    const check = await this.keyCache.get(hash, () => this.lookupKey(hash, Date.now() + KEY_LOOKUP_TIMEOUT_MS));
    if (check.ok) this.recordUse(check.principal.apiKeyId, this.now().getTime());
    return check;
  }

  /** What the database says of a key hash: trusted for the TTL, never past the key's expiry. */
  private async lookupKey(hash: string, deadline: number): Promise<Lookup<KeyCheck>> {
    const key = await this.scopes.operator("authenticate-api-key", deadline)((em) => this.repo.findApiKeyByHash(em, hash));
    if (key === null || key.revokeTime !== null) return { result: { ok: false, reason: "unknown" } };
    if (key.expireTime !== null && key.expireTime.getTime() <= this.now().getTime()) return { result: { ok: false, reason: "expired" } };
    const principal: TenantPrincipal = { kind: "tenant", tenantId: key.tenantId, apiKeyId: key.id, scopes: key.scopes };
    return { result: { ok: true, principal }, cacheUntil: key.expireTime?.getTime() ?? Infinity };
  }

  /** Best effort, off the call's path: at most one write per key and process a minute. */
  private recordUse(keyId: string, nowMs: number): void {
    const last = this.usesRecorded.get(keyId);
    if (last !== undefined && nowMs - last < API_KEY_USE_RECORD_MS) return;
    if (this.usesRecorded.size >= API_KEY_CACHE_MAX) this.usesRecorded.clear();
    this.usesRecorded.set(keyId, nowMs);
    const at = new Date(nowMs);
    this.scopes
      .operator("record-api-key-use")((em) =>
        em.nativeUpdate(ApiKeyEntity, { id: keyId, $or: [{ lastUseTime: null }, { lastUseTime: { $lt: new Date(nowMs - API_KEY_USE_RECORD_MS) } }] }, { lastUseTime: at }),
      )
      .catch((err: Error) => this.warn("could not record an API key's last use", err));
  }

  private async insertKey(em: EntityManager, tenantId: string, input: NewApiKey, now: Date): Promise<IssuedKey> {
    const generated = generateApiKey();
    const key: ApiKeyRow = {
      id: randomUUID(),
      tenantId,
      displayName: input.displayName,
      prefix: generated.prefix,
      keyHash: generated.hash,
      scopes: input.scopes.length === 0 ? [...ALL_API_KEY_SCOPES] : [...input.scopes],
      createTime: now,
      expireTime: input.expireTime,
      lastUseTime: null,
      revokeTime: null,
    };
    await this.repo.insertApiKey(em, key);
    return { secret: generated.secret, key };
  }
}

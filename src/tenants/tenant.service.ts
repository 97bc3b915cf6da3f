// Tenant use cases: create tenants with their first key, read and list them, issue and revoke
// API keys, and authenticate keys (with a short-lived cache so every call does not cost a
// database round trip; revocation reaches other replicas within the cache TTL).
import { randomUUID } from "node:crypto";
import type { EntityManager, MikroORM } from "@mikro-orm/postgresql";
import { notFound } from "../errors.js";
import type { ApiKeyAuthenticator } from "../server/auth.js";
import type { Principal } from "../server/pipeline.js";
import { generateApiKey, hashApiKey, looksLikeApiKey } from "./api-key.js";
import { AppError } from "../errors.js";
import { TenantAuditEntity, TenantEntity, type ApiKeyRow, type TenantRow, type TenantSettings } from "./tenant.entity.js";
import type { TenantPageCursor, TenantRepository } from "./tenant.repository.js";

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

export interface IssuedKey {
  /** The secret: returned once, never stored. */
  readonly secret: string;
  readonly key: ApiKeyRow;
}

/** How long a successful key lookup is trusted before the database is asked again. */
export const API_KEY_CACHE_TTL_MS = 2_000;
const API_KEY_CACHE_MAX = 10_000;

export class TenantService implements ApiKeyAuthenticator {
  private readonly keyCache = new Map<string, { principal: Principal; expires: number }>();
  private readonly profileCache = new Map<string, { profile: TenantProfile; expires: number }>();

  constructor(
    private readonly orm: MikroORM,
    private readonly repo: TenantRepository,
    private readonly now: () => Date = () => new Date(),
  ) {}

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
    const issued = await this.insertKey(em, tenant.id, "initial", now);
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
  async profile(tenantId: string, em?: EntityManager): Promise<TenantProfile> {
    const nowMs = Date.now();
    const cached = this.profileCache.get(tenantId);
    if (cached !== undefined && cached.expires > nowMs) return cached.profile;
    const t = await this.getTenant(em ?? this.orm.em.fork(), tenantId);
    const profile = { displayName: t.displayName, verificationPolicy: t.verificationPolicy ?? {}, settings: t.settings ?? {} };
    if (this.profileCache.size >= API_KEY_CACHE_MAX) this.profileCache.clear();
    this.profileCache.set(tenantId, { profile, expires: nowMs + API_KEY_CACHE_TTL_MS });
    return profile;
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
    return this.repo.allCorsOrigins(this.orm.em.fork());
  }

  listTenants(em: EntityManager, limit: number, after: TenantPageCursor | undefined): Promise<TenantRow[]> {
    return this.repo.listTenants(em, limit, after);
  }

  async createApiKey(em: EntityManager, tenantId: string, displayName: string): Promise<IssuedKey> {
    await this.getTenant(em, tenantId);
    return this.insertKey(em, tenantId, displayName, this.now());
  }

  async revokeApiKey(em: EntityManager, tenantId: string, keyId: string): Promise<ApiKeyRow> {
    const key = await this.repo.revokeApiKey(em, tenantId, keyId, this.now());
    if (key === null) throw notFound("API_KEY_NOT_FOUND", `API key ${keyId} not found`);
    this.keyCache.delete(key.keyHash);
    return key;
  }

  async authenticate(secret: string): Promise<Principal | undefined> {
    if (!looksLikeApiKey(secret)) return undefined;
    const hash = hashApiKey(secret);
    const cached = this.keyCache.get(hash);
    const nowMs = Date.now();
    if (cached !== undefined && cached.expires > nowMs) return cached.principal;
    const key = await this.repo.findApiKeyByHash(this.orm.em.fork(), hash);
    if (key === null || key.revokeTime !== null) {
      this.keyCache.delete(hash);
      return undefined;
    }
    const principal: Principal = { kind: "tenant", tenantId: key.tenantId, apiKeyId: key.id };
    if (this.keyCache.size >= API_KEY_CACHE_MAX) this.keyCache.clear();
    this.keyCache.set(hash, { principal, expires: nowMs + API_KEY_CACHE_TTL_MS });
    return principal;
  }

  private async insertKey(em: EntityManager, tenantId: string, displayName: string, now: Date): Promise<IssuedKey> {
    const generated = generateApiKey();
    const key: ApiKeyRow = {
      id: randomUUID(),
      tenantId,
      displayName,
      prefix: generated.prefix,
      keyHash: generated.hash,
      createTime: now,
      revokeTime: null,
    };
    await this.repo.insertApiKey(em, key);
    return { secret: generated.secret, key };
  }
}

// Data access for tenants and API keys.
import type { EntityManager } from "@mikro-orm/postgresql";
import { ApiKeyEntity, TenantEntity, type ApiKeyRow, type TenantRow } from "./tenant.entity.js";

export interface TenantPageCursor {
  readonly createTime: Date;
  readonly id: string;
}

export class TenantRepository {
  async insertTenant(em: EntityManager, row: TenantRow): Promise<void> {
    await em.insert(TenantEntity, row);
  }

  findTenant(em: EntityManager, id: string): Promise<TenantRow | null> {
    return em.findOne(TenantEntity, { id });
  }

  /** Oldest first, keyset-paginated on (create_time, id). */
  listTenants(em: EntityManager, limit: number, after: TenantPageCursor | undefined): Promise<TenantRow[]> {
    const where = after
      ? {
          $or: [
            { createTime: { $gt: after.createTime } },
            { createTime: after.createTime, id: { $gt: after.id } },
          ],
        }
      : {};
    return em.find(TenantEntity, where, { orderBy: { createTime: "asc", id: "asc" }, limit });
  }

  /** Every origin any tenant allows (for CORS preflights, which carry no credentials). */
  async allCorsOrigins(em: EntityManager): Promise<string[]> {
    const rows = await em.execute<Array<{ origin: string }>>(
      "select distinct jsonb_array_elements_text(coalesce(settings->'corsOrigins', '[]'::jsonb)) as origin from tenants",
    );
    return rows.map((r) => r.origin);
  }

  async insertApiKey(em: EntityManager, row: ApiKeyRow): Promise<void> {
    await em.insert(ApiKeyEntity, row);
  }

  findApiKey(em: EntityManager, tenantId: string, id: string): Promise<ApiKeyRow | null> {
    return em.findOne(ApiKeyEntity, { id, tenantId });
  }

  /** Newest first, keyset-paginated on (create_time, id). */
  listApiKeys(em: EntityManager, tenantId: string, limit: number, before: TenantPageCursor | undefined): Promise<ApiKeyRow[]> {
    const where = before
      ? { tenantId, $or: [{ createTime: { $lt: before.createTime } }, { createTime: before.createTime, id: { $lt: before.id } }] }
      : { tenantId };
    return em.find(ApiKeyEntity, where, { orderBy: { createTime: "desc", id: "desc" }, limit, disableIdentityMap: true });
  }

  findApiKeyByHash(em: EntityManager, keyHash: string): Promise<ApiKeyRow | null> {
    return em.findOne(ApiKeyEntity, { keyHash });
  }

  /** Sets revoke_time unless already set; returns the key as stored afterwards. */
  async revokeApiKey(em: EntityManager, tenantId: string, id: string, now: Date): Promise<ApiKeyRow | null> {
    await em.nativeUpdate(ApiKeyEntity, { id, tenantId, revokeTime: null }, { revokeTime: now });
    return em.findOne(ApiKeyEntity, { id, tenantId }, { refresh: true });
  }
}

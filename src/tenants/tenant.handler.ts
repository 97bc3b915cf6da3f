// finhub.tenant.v1.TenantService: protobuf <-> tenant use cases. Admin-only (see src/server/auth.ts).
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { effectivePolicy } from "../verification/policy.js";
import type { MikroORM } from "@mikro-orm/postgresql";
import {
  ApiKeySchema,
  TenantSchema,
  type ApiKey,
  type Tenant,
} from "../../gen/finhub/tenant/v1/tenant_pb.js";
import {
  CreateApiKeyResponseSchema,
  CreateTenantResponseSchema,
  type TenantService as TenantServiceDesc,
} from "../../gen/finhub/tenant/v1/tenant_service_pb.js";
import { ADMIN_SCOPE, runIdempotent } from "../db/idempotency.js";
import { idempotencyKey, protoCodec } from "../server/idempotency.js";
import type { UnaryHandlers } from "../server/pipeline.js";
import { decodePageToken, encodePageToken, pageSize } from "../server/paging.js";
import type { ApiKeyRow, TenantRow } from "./tenant.entity.js";
import type { TenantService } from "./tenant.service.js";

export function tenantToProto(t: TenantRow): Tenant {
  const p = effectivePolicy(t.verificationPolicy);
  return create(TenantSchema, {
    id: t.id,
    displayName: t.displayName,
    verificationPolicy: {
      codeLength: p.codeLength,
      codeTtl: { seconds: BigInt(Math.round(p.codeTtlMs / 1000)) },
      maxAttempts: p.maxAttempts,
      sendBudgetPerMinute: p.sendBudgetPerMinute,
    },
    etag: String(t.version),
    createTime: timestampFromDate(t.createTime),
    updateTime: timestampFromDate(t.updateTime),
  });
}

export function apiKeyToProto(k: ApiKeyRow): ApiKey {
  return create(ApiKeySchema, {
    id: k.id,
    tenantId: k.tenantId,
    displayName: k.displayName,
    prefix: k.prefix,
    createTime: timestampFromDate(k.createTime),
    revokeTime: k.revokeTime ? timestampFromDate(k.revokeTime) : undefined,
  });
}

// The secret is never stored: a replay answers with the metadata and an empty api_key.
const createTenantCodec = protoCodec(CreateTenantResponseSchema, (r) => ({ ...r, apiKey: "" }));
const createApiKeyCodec = protoCodec(CreateApiKeyResponseSchema, (r) => ({ ...r, apiKey: "" }));

export function tenantHandlers(orm: MikroORM, tenants: TenantService): UnaryHandlers<typeof TenantServiceDesc> {
  return {
    async createTenant(req, call) {
      const key = idempotencyKey(call, ADMIN_SCOPE, req.requestId);
      return runIdempotent(orm.em.fork(), key, createTenantCodec, async (em) => {
        const vp = req.tenant!.verificationPolicy;
        const created = await tenants.createTenant(em, {
          displayName: req.tenant!.displayName,
          verificationPolicy: {
            ...(vp?.codeLength ? { codeLength: vp.codeLength } : {}),
            ...(vp?.codeTtl ? { codeTtlMs: Number(vp.codeTtl.seconds) * 1000 + Math.round(vp.codeTtl.nanos / 1e6) } : {}),
            ...(vp?.maxAttempts ? { maxAttempts: vp.maxAttempts } : {}),
            ...(vp?.sendBudgetPerMinute ? { sendBudgetPerMinute: vp.sendBudgetPerMinute } : {}),
          },
        });
        return create(CreateTenantResponseSchema, {
          tenant: tenantToProto(created.tenant),
          apiKey: created.secret,
          key: apiKeyToProto(created.key),
        });
      });
    },

    async getTenant(req) {
      return { tenant: tenantToProto(await tenants.getTenant(orm.em.fork(), req.id)) };
    },

    async listTenants(req) {
      const limit = pageSize(req.pageSize);
      const cursor = decodePageToken(req.pageToken, "page_token");
      const after = cursor ? { createTime: new Date(cursor.t), id: cursor.i } : undefined;
      const rows = await tenants.listTenants(orm.em.fork(), limit + 1, after);
      const page = rows.slice(0, limit);
      const last = page.at(-1);
      return {
        tenants: page.map(tenantToProto),
        nextPageToken:
          rows.length > limit && last ? encodePageToken({ t: last.createTime.toISOString(), i: last.id }) : "",
      };
    },

    async createApiKey(req, call) {
      const key = idempotencyKey(call, ADMIN_SCOPE, req.requestId);
      return runIdempotent(orm.em.fork(), key, createApiKeyCodec, async (em) => {
        const issued = await tenants.createApiKey(em, req.tenantId, req.key?.displayName ?? "");
        return create(CreateApiKeyResponseSchema, { apiKey: issued.secret, key: apiKeyToProto(issued.key) });
      });
    },

    async revokeApiKey(req) {
      const em = orm.em.fork();
      const revoked = await em.transactional((tx) => tenants.revokeApiKey(tx, req.tenantId, req.apiKeyId));
      return { key: apiKeyToProto(revoked) };
    },
  };
}

// finhub.tenant.v1.TenantService: protobuf <-> tenant use cases. Admin-only (see src/server/auth.ts).
import { create } from "@bufbuild/protobuf";
import { pathToString } from "@bufbuild/protobuf/reflect";
import { createValidator } from "@bufbuild/protovalidate";
import { timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { effectivePolicy } from "../verification/policy.js";
import type { Scopes } from "../db/scope.js";
import {
  ApiKeySchema,
  ApiKeyScope as PbScope,
  Channel,
  TenantSchema,
  type ApiKey,
  type Tenant,
  type VerificationPolicy as PbPolicy,
} from "../../gen/finhub/tenant/v1/tenant_pb.js";
import { isRequirementPath } from "../compliance/requirements.js";
import { invalidArgument, type FieldViolation } from "../errors.js";
import {
  CreateApiKeyResponseSchema,
  CreateTenantResponseSchema,
  type TenantService as TenantServiceDesc,
} from "../../gen/finhub/tenant/v1/tenant_service_pb.js";
import { ADMIN_SCOPE, runIdempotent } from "../db/idempotency.js";
import { idempotencyKey, protoCodec } from "../server/idempotency.js";
import type { UnaryHandlers } from "../server/pipeline.js";
import { decodePageToken, encodePageToken, pageSize } from "../server/paging.js";
import type { ApiKeyRow, ApiKeyScope, TenantRow, TenantSettings } from "./tenant.entity.js";
import type { TenantService } from "./tenant.service.js";

const CHANNELS: Record<"b2c" | "b2b", Channel> = { b2c: Channel.B2C, b2b: Channel.B2B };

export function tenantToProto(t: TenantRow): Tenant {
  const p = effectivePolicy(t.verificationPolicy);
  const settings = t.settings ?? {};
  return create(TenantSchema, {
    id: t.id,
    displayName: t.displayName,
    channels: (settings.channels ?? ["b2c", "b2b"]).map((c) => CHANNELS[c]),
    countriesOfOperation: settings.countries ?? [],
    requiredFields: settings.requiredFields ?? [],
    corsOrigins: settings.corsOrigins ?? [],
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

const SCOPES: Record<ApiKeyScope, PbScope> = { read: PbScope.READ, write: PbScope.WRITE, verify: PbScope.VERIFY };
const scopeFromPb = (s: PbScope): ApiKeyScope => (s === PbScope.READ ? "read" : s === PbScope.WRITE ? "write" : "verify");

export function apiKeyToProto(k: ApiKeyRow): ApiKey {
  return create(ApiKeySchema, {
    id: k.id,
    tenantId: k.tenantId,
    displayName: k.displayName,
    prefix: k.prefix,
    scopes: k.scopes.map((s) => SCOPES[s]),
    createTime: timestampFromDate(k.createTime),
    expireTime: k.expireTime ? timestampFromDate(k.expireTime) : undefined,
    lastUseTime: k.lastUseTime ? timestampFromDate(k.lastUseTime) : undefined,
    revokeTime: k.revokeTime ? timestampFromDate(k.revokeTime) : undefined,
  });
}

function policyFromProto(vp: PbPolicy | undefined): TenantRow["verificationPolicy"] {
  return {
    ...(vp?.codeLength ? { codeLength: vp.codeLength } : {}),
    ...(vp?.codeTtl ? { codeTtlMs: Number(vp.codeTtl.seconds) * 1000 + Math.round(vp.codeTtl.nanos / 1e6) } : {}),
    ...(vp?.maxAttempts ? { maxAttempts: vp.maxAttempts } : {}),
    ...(vp?.sendBudgetPerMinute ? { sendBudgetPerMinute: vp.sendBudgetPerMinute } : {}),
  };
}


function settingsFromProto(t: Tenant, field = "tenant"): TenantSettings {
  const bad: FieldViolation[] = t.requiredFields
    .map((p, i) => ({ p, i }))
    .filter(({ p }) => !isRequirementPath(p))
    .map(({ p, i }) => ({ field: `${field}.required_fields.${i}`, ruleId: "required_fields.customer_path", message: `"${p}" is not a field of Customer that can be required` }));
  if (bad.length > 0) throw invalidArgument(bad);
  return {
    ...(t.channels.length > 0 ? { channels: t.channels.map((c) => (c === Channel.B2C ? "b2c" : "b2b")) } : {}),
    countries: [...t.countriesOfOperation],
    requiredFields: [...t.requiredFields],
    corsOrigins: [...t.corsOrigins],
  };
}

const validator = createValidator();

const TENANT_MASK_PATHS = ["display_name", "verification_policy", "channels", "countries_of_operation", "required_fields", "cors_origins"] as const;

// The secret is never stored: a replay answers with the metadata and an empty api_key.
const createTenantCodec = protoCodec(CreateTenantResponseSchema, (r) => ({ ...r, apiKey: "" }));
const createApiKeyCodec = protoCodec(CreateApiKeyResponseSchema, (r) => ({ ...r, apiKey: "" }));

/** `afterUpdate` runs once an UpdateTenant committed (e.g. to refresh the CORS origins). */
export function tenantHandlers(
  scopes: Scopes,
  tenants: TenantService,
  afterUpdate: () => void = () => undefined,
): UnaryHandlers<typeof TenantServiceDesc> {
  return {
    async createTenant(req, call) {
      const key = idempotencyKey(call, ADMIN_SCOPE, req.requestId);
      return runIdempotent(scopes.operator("TenantService/CreateTenant", call.deadline), key, createTenantCodec, async (em) => {
        const created = await tenants.createTenant(em, {
          displayName: req.tenant!.displayName,
          verificationPolicy: policyFromProto(req.tenant!.verificationPolicy),
          settings: settingsFromProto(req.tenant!),
        });
        return create(CreateTenantResponseSchema, {
          tenant: tenantToProto(created.tenant),
          apiKey: created.secret,
          key: apiKeyToProto(created.key),
        });
      });
    },

    async getTenant(req, call) {
      return { tenant: tenantToProto(await scopes.operator("TenantService/GetTenant", call.deadline)((em) => tenants.getTenant(em, req.id))) };
    },

    async listTenants(req, call) {
      const limit = pageSize(req.pageSize);
      const cursor = decodePageToken(req.pageToken, "page_token");
      const after = cursor ? { createTime: new Date(cursor.t), id: cursor.i } : undefined;
      const rows = await scopes.operator("TenantService/ListTenants", call.deadline)((em) => tenants.listTenants(em, limit + 1, after));
      const page = rows.slice(0, limit);
      const last = page.at(-1);
      return {
        tenants: page.map(tenantToProto),
        nextPageToken:
          rows.length > limit && last ? encodePageToken({ t: last.createTime.toISOString(), i: last.id }) : "",
      };
    },

    async updateTenant(req, call) {
      const t = req.tenant;
      if (t === undefined) throw invalidArgument([{ field: "tenant", ruleId: "required", message: "value is required" }]);
      const paths = req.updateMask?.paths ?? [];
      const bad = paths.filter((p) => p !== "*" && !(TENANT_MASK_PATHS as readonly string[]).includes(p));
      if (bad.length > 0) {
        throw invalidArgument(
          bad.map((p) => ({ field: "update_mask", ruleId: "update_mask.path", message: `"${p}" cannot be updated (allowed: ${TENANT_MASK_PATHS.join(", ")})` })),
          "INVALID_UPDATE_MASK",
        );
      }
      // Absent mask: the populated fields (AIP-134).
      const set = new Set<string>(
        paths.length === 0
          ? [
              ...(t.displayName ? ["display_name"] : []),
              ...(t.verificationPolicy ? ["verification_policy"] : []),
              ...(t.channels.length ? ["channels"] : []),
              ...(t.countriesOfOperation.length ? ["countries_of_operation"] : []),
              ...(t.requiredFields.length ? ["required_fields"] : []),
              ...(t.corsOrigins.length ? ["cors_origins"] : []),
            ]
          : paths.includes("*")
            ? TENANT_MASK_PATHS
            : paths,
      );
      // The shape rules of Tenant, for the fields being changed only.
      const checked = validator.validate(TenantSchema, t);
      if (checked.kind === "error") throw checked.error;
      const shapeErrors = (checked.violations ?? [])
        .map((v) => ({ path: pathToString(v.field).replace(/\[(\d+)\]/g, ".$1"), v }))
        .filter(({ path }) => set.has(path.split(".")[0]!));
      if (shapeErrors.length > 0) {
        throw invalidArgument(shapeErrors.map(({ path, v }) => ({ field: `tenant.${path}`, ruleId: v.ruleId, message: v.message })));
      }
      if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(t.id)) {
        throw invalidArgument([{ field: "tenant.id", ruleId: "string.uuid", message: "must be the UUID of the tenant to update" }]);
      }
      const incoming = settingsFromProto(t);
      const updated = await scopes.operator("TenantService/UpdateTenant", call.deadline)((tx) =>
        tenants.updateTenant(tx, t.id, t.etag, (cur) => {
          const s = { ...(cur.settings ?? {}) };
          if (set.has("channels")) {
            if (incoming.channels) s.channels = incoming.channels;
            else delete s.channels;
          }
          if (set.has("countries_of_operation")) s.countries = incoming.countries ?? [];
          if (set.has("required_fields")) s.requiredFields = incoming.requiredFields ?? [];
          if (set.has("cors_origins")) s.corsOrigins = incoming.corsOrigins ?? [];
          return {
            ...cur,
            displayName: set.has("display_name") ? t.displayName : cur.displayName,
            verificationPolicy: set.has("verification_policy") ? policyFromProto(t.verificationPolicy) : cur.verificationPolicy,
            settings: s,
          };
        }),
      );
      afterUpdate();
      return { tenant: tenantToProto(updated) };
    },

    async createApiKey(req, call) {
      const key = idempotencyKey(call, ADMIN_SCOPE, req.requestId);
      const input = {
        displayName: req.key?.displayName ?? "",
        scopes: (req.key?.scopes ?? []).map(scopeFromPb),
        expireTime: req.key?.expireTime ? timestampDate(req.key.expireTime) : null,
      };
      return runIdempotent(scopes.operator("TenantService/CreateApiKey", call.deadline), key, createApiKeyCodec, async (em) => {
        const issued = await tenants.createApiKey(em, req.tenantId, input);
        return create(CreateApiKeyResponseSchema, { apiKey: issued.secret, key: apiKeyToProto(issued.key) });
      });
    },

    async revokeApiKey(req, call) {
      const revoked = await scopes.operator("TenantService/RevokeApiKey", call.deadline)((tx) => tenants.revokeApiKey(tx, req.tenantId, req.apiKeyId));
      return { key: apiKeyToProto(revoked) };
    },

    async listApiKeys(req, call) {
      const limit = pageSize(req.pageSize);
      const cursor = decodePageToken(req.pageToken, "page_token", req.tenantId.toLowerCase());
      const before = cursor ? { createTime: new Date(cursor.t), id: cursor.i } : undefined;
      const rows = await scopes.operator("TenantService/ListApiKeys", call.deadline)((em) => tenants.listApiKeys(em, req.tenantId, limit + 1, before));
      const page = rows.slice(0, limit);
      const last = page.at(-1);
      return {
        keys: page.map(apiKeyToProto),
        nextPageToken: rows.length > limit && last ? encodePageToken({ t: last.createTime.toISOString(), i: last.id }, req.tenantId.toLowerCase()) : "",
      };
    },
  };
}

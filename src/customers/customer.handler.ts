// finhub.customer.v1.CustomerService: protobuf <-> customer use cases. The tenant always comes
// from the authenticated principal, never from the message. Every write runs in one transaction
// through runIdempotent (request_id) and writes one event.
import { createHash } from "node:crypto";
import type { DescMessage, MessageShape } from "@bufbuild/protobuf";
import { timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { createValidator } from "@bufbuild/protovalidate";
import { pathToString } from "@bufbuild/protobuf/reflect";
import type { EntityManager } from "@mikro-orm/postgresql";
import { CustomerSchema, type Customer as PbCustomer, type StatusReason as PbStatusReason } from "../../gen/finhub/customer/v1/customer_pb.js";
import type { LifecycleAction } from "./lifecycle.js";
import {
  ActivateCustomerResponseSchema,
  CloseCustomerResponseSchema,
  CreateCustomerResponseSchema,
  EraseCustomerResponseSchema,
  LinkCustomerResponseSchema,
  SuspendCustomerResponseSchema,
  UnlinkCustomerResponseSchema,
  UpdateCustomerResponseSchema,
  type CustomerService as CustomerServiceDesc,
} from "../../gen/finhub/customer/v1/customer_service_pb.js";
import { runIdempotent } from "../db/idempotency.js";
import type { DataKeys } from "../db/envelope.js";
import type { Scopes } from "../db/scope.js";
import { AppError, invalidArgument } from "../errors.js";
import { decodeCursor, encodeCursor, eventToProto, eventTypeName } from "../events/event.proto.js";
import type { EventService } from "../events/event.service.js";
import { idempotencyKey, protoCodec } from "../server/idempotency.js";
import { createMessage } from "../server/proto-create.js";
import { decodePageToken, encodePageToken, pageSize } from "../server/paging.js";
import { tenantCall, type Call, type Principal, type UnaryHandlers } from "../server/pipeline.js";
import { SESSION_TTL_DEFAULT_MS, type SessionService } from "../tenants/session.service.js";
import { ALL_API_KEY_SCOPES } from "../tenants/tenant.entity.js";
import { closedError, type Customer, type CustomerDetails } from "./customer.js";
import { mergePaths, resolvePaths } from "./customer-mask.proto.js";
import { customerToProto, draftFromProto, linkKindMap, reasonMap, statusMap, typeMap } from "./customer.proto.js";
import type { CustomerFilter } from "./customer.repository.js";
import type { CustomerService, DetailsDraft } from "./customer.service.js";


/** Codecs for stored idempotent responses, one per response type. */
const codecs = new Map<DescMessage, ReturnType<typeof protoCodec>>();
function codecFor<D extends DescMessage>(schema: D) {
  let c = codecs.get(schema);
  if (!c) codecs.set(schema, (c = protoCodec(schema)));
  return c as unknown as ReturnType<typeof protoCodec<D>>;
}

/** What the handlers need of the database: tenant transactions and the tenants' data keys. */
export interface CustomerData {
  readonly scopes: Scopes;
  readonly keys: DataKeys;
}

/** A write that returns `{ customer }`: idempotent, one tenant transaction, conflicts explained.
 * The stored response is sealed with the tenant's key and tied to the customer (erasure). */
async function write<D extends DescMessage>(
  data: CustomerData,
  customers: CustomerService,
  call: Call,
  tenantId: string,
  requestId: string,
  schema: D,
  work: (em: EntityManager) => Promise<Customer>,
  wanted?: () => Pick<CustomerDetails, "email" | "phoneNumber" | "externalId">,
): Promise<MessageShape<D>> {
  const key = idempotencyKey(call, tenantId, requestId);
  const transact = data.scopes.tenant(tenantId, call.deadline);
  try {
    return await runIdempotent(
      transact,
      key,
      codecFor(schema),
      async (em) => {
        const c = await work(em);
        return createMessage(schema, { customer: await toProto(customers, c, em) } as never);
      },
      {
        resourceOf: (r) => (r as { customer?: PbCustomer }).customer?.id,
        protect: (em) => data.keys.forTenant(em, tenantId),
      },
    );
  } catch (err) {
    if (wanted === undefined) throw err;
    // A session token (a browser) learns that the value is taken, not which customer holds it.
    const session = call.principal?.kind === "tenant" ? call.principal.session : undefined;
    return customers.explainConflict(err, transact, tenantId, wanted(), session === undefined);
  }
}

/** The resource with its missing requirements (country rules + tenant settings, per read). */
export async function toProto(customers: CustomerService, c: Customer, em?: EntityManager): Promise<PbCustomer> {
  return (await toProtos(customers, c.tenantId, [c], em))[0]!;
}

/** toProto for any number of one tenant's customers (a ListCustomers page): the tenant's
 * settings read once, and not at all when every customer is closed (nothing is due then). */
async function toProtos(customers: CustomerService, tenantId: string, list: readonly Customer[], em?: EntityManager): Promise<PbCustomer[]> {
  // missing_requirements is what is currently due: the eventual list is not evaluated.
  const requirements = list.some((c) => c.status !== "closed") ? await customers.requirementsOf(tenantId, em, { eventually: false }) : undefined;
  return list.map((c) => customerToProto(c, c.status === "closed" || requirements === undefined ? [] : requirements(c).currentlyDue.map((r) => r.field)));
}

const validator = createValidator();
const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

/** The merged customer of an update must satisfy the same shape rules as a new one. */
function validateMerged(merged: PbCustomer): void {
  const result = validator.validate(CustomerSchema, merged);
  if (result.kind === "valid") return;
  if (result.kind === "error") throw result.error;
  throw invalidArgument(
    result.violations.map((v) => {
      // "business.representatives[1].id" -> "customer.business.representatives.1.id"
      const path = pathToString(v.field).replace(/\[(\d+)\]/g, ".$1");
      return { field: path === "" ? "customer" : `customer.${path}`, ruleId: v.ruleId, message: v.message };
    }),
  );
}

function filterFingerprint(tenantId: string, filter: CustomerFilter): string {
  return createHash("sha256").update(JSON.stringify([tenantId, filter])).digest("base64url").slice(0, 16);
}

export interface StreamSettings {
  readonly heartbeatMs: number;
  readonly pollMs: number;
  /** Aborted when the server starts shutting down: open streams end with UNAVAILABLE. */
  readonly shutdown: AbortSignal;
  /** Stream metrics: open streams and the delivery lag of each event. */
  readonly observe?: { opened(): void; closed(): void; delivered(eventTime: Date): void };
}

export function customerHandlers(
  data: CustomerData,
  customers: CustomerService,
  events: EventService,
  sessions: SessionService,
  streams: StreamSettings,
): UnaryHandlers<typeof CustomerServiceDesc> {
  /** Activate, Suspend and Close share their request shape (id, etag, reason, note, request_id). */
  function lifecycle<D extends DescMessage>(action: LifecycleAction, schema: D) {
    return (req: { id: string; etag: string; reason: PbStatusReason; note: string; requestId: string; erasePersonalData?: boolean }, call: Call) => {
      const { tenantId, actor } = tenantCall(call, req.requestId);
      const reason = reasonMap.fromPb(req.reason) ?? null;
      return write(data, customers, call, tenantId, req.requestId, schema, (em) =>
        customers.transition(em, tenantId, req.id, req.etag, { action, reason, note: req.note }, actor, req.erasePersonalData === true),
      );
    };
  }

  return {
    async listCustomerEvents(req, call) {
      const { tenantId } = tenantCall(call);
      const limit = pageSize(req.pageSize);
      const before = () => (req.pageToken === "" ? undefined : decodeCursor(req.pageToken, "page_token", tenantId));
      const rows = await events.history(tenantId, req.customerId, limit + 1, before, call.deadline);
      const page = rows.slice(0, limit);
      const last = page.at(-1);
      return { events: page.map(eventToProto), nextPageToken: rows.length > limit && last ? encodeCursor(last.seq, tenantId) : "" };
    },

    async *watchCustomerEvents(req, call) {
      const { tenantId } = tenantCall(call);
      const afterSeq = decodeCursor(req.afterCursor, "after_cursor", tenantId);
      const types = new Set(req.types.map(eventTypeName).filter((t): t is string => t !== undefined));
      const signal = AbortSignal.any([call.signal, streams.shutdown]);
      streams.observe?.opened();
      try {
        for await (const item of events.stream(tenantId, { afterSeq, types, signal, heartbeatMs: streams.heartbeatMs, pollMs: streams.pollMs, batch: 200 })) {
          if (item.kind === "event") streams.observe?.delivered(item.event.time);
          yield item.kind === "event"
          ? { message: { case: "event" as const, value: eventToProto(item.event) } }
          : {
              message: {
                case: "heartbeat" as const,
                value: { cursor: item.seq > 0 ? encodeCursor(item.seq, tenantId) : "", heartbeatTime: timestampFromDate(new Date()) },
              },
            };
        }
      } finally {
        streams.observe?.closed();
      }
      if (streams.shutdown.aborted) {
        throw new AppError("UNAVAILABLE", "the server is shutting down: reconnect with your last cursor", { reason: "SERVER_SHUTTING_DOWN" });
      }
    },

    async createSessionToken(req, call) {
      const { tenantId } = tenantCall(call);
      const p = call.principal as Extract<Principal, { kind: "tenant" }>;
      // A token reads, writes and verifies for its customer: only a key that may do all three mints one.
      const missing = ALL_API_KEY_SCOPES.find((s) => !p.scopes.includes(s));
      if (missing !== undefined) {
        throw new AppError("PERMISSION_DENIED", `minting a session token needs an API key with the read, write and verify scopes; this one lacks "${missing}"`, {
          reason: "API_KEY_SCOPE_INSUFFICIENT",
          metadata: { required_scope: missing, api_key_id: p.apiKeyId },
        });
      }
      return data.scopes.tenant(tenantId, call.deadline)(async (em) => {
        const customerId = req.customerId === "" ? null : req.customerId.toLowerCase();
        if (customerId !== null) {
          const c = await customers.get(em, tenantId, customerId);
          if (c.status === "closed") throw closedError(c);
        }
        const ttlMs = req.ttl === undefined ? SESSION_TTL_DEFAULT_MS : Number(req.ttl.seconds) * 1000 + Math.floor(req.ttl.nanos / 1e6);
        const { secret, row } = await sessions.mint(em, { tenantId, apiKeyId: p.apiKeyId, customerId, ttlMs, allowedOrigins: req.allowedOrigins });
        return {
          sessionToken: secret,
          session: {
            id: row.id,
            customerId: row.customerId ?? "",
            createTime: timestampFromDate(row.createTime),
            expireTime: timestampFromDate(row.expireTime),
            allowedOrigins: row.allowedOrigins,
            apiKeyId: row.apiKeyId,
          },
        };
      });
    },

    async createCustomer(req, call) {
      const { tenantId, actor } = tenantCall(call, req.requestId);
      const draft = draftFromProto(req.customer!, undefined);
      const session = (call.principal as Extract<Principal, { kind: "tenant" }>).session;
      return write(data, customers, call, tenantId, req.requestId, CreateCustomerResponseSchema, async (em) => {
        const created = await customers.create(em, tenantId, draft, actor);
        // A session token registers one customer and is bound to it, in the same transaction.
        if (session !== undefined) await sessions.bind(em, tenantId, session.id, created.id);
        return created;
      }, () => draft);
    },

    async getCustomer(req, call) {
      const { tenantId } = tenantCall(call);
      return { customer: await toProto(customers, await customers.read(tenantId, req.id, data.scopes.tenant(tenantId, call.deadline), call.deadline)) };
    },

    async getCustomerRequirements(req, call) {
      const { tenantId } = tenantCall(call);
      return data.scopes.tenant(tenantId, call.deadline)(async (em) => {
        const r = await customers.requirements(await customers.get(em, tenantId, req.id), em);
        return { currentlyDue: r.currentlyDue, eventuallyDue: r.eventuallyDue };
      });
    },

    async listCustomers(req, call) {
      const { tenantId } = tenantCall(call);
      const filter: CustomerFilter = {
        ...(req.status ? { status: statusMap.fromPb(req.status) } : {}),
        ...(req.type ? { type: typeMap.fromPb(req.type) } : {}),
        ...(req.email ? { email: req.email.trim().toLowerCase() } : {}),
        ...(req.phoneNumber ? { phoneNumber: req.phoneNumber } : {}),
        ...(req.externalId ? { externalId: req.externalId } : {}),
        ...(req.createdAfter ? { createdAfter: timestampDate(req.createdAfter) } : {}),
        ...(req.createdBefore ? { createdBefore: timestampDate(req.createdBefore) } : {}),
      };
      const limit = pageSize(req.pageSize);
      const transact = data.scopes.tenant(tenantId, call.deadline);
      // The identifier filter is known by its blind index only (also in the page token's scope).
      const full = req.identifier
        ? { ...filter, identifierIndex: await customers.identifierIndex(tenantId, req.identifier.type, req.identifier.value, transact) }
        : filter;
      const scope = filterFingerprint(tenantId, full);
      const cursor = decodePageToken(req.pageToken, "page_token", scope);
      const after = cursor ? { createTime: new Date(cursor.t), id: cursor.i } : undefined;
      const rows = await customers.listRead(tenantId, full, limit + 1, after, transact, call.deadline);
      const page = rows.slice(0, limit);
      const last = page.at(-1);
      return {
        customers: await toProtos(customers, tenantId, page),
        nextPageToken: rows.length > limit && last ? encodePageToken({ t: last.createTime.toISOString(), i: last.id }, scope) : "",
      };
    },

    async updateCustomer(req, call) {
      const { tenantId, actor } = tenantCall(call, req.requestId);
      const request = req.customer;
      if (request === undefined) {
        throw invalidArgument([{ field: "customer", ruleId: "required", message: "value is required" }]);
      }
      if (!UUID.test(request.id)) {
        throw invalidArgument([
          { field: "customer.id", ruleId: "string.uuid", message: "must be the UUID of the customer to update" },
        ]);
      }
      let draft: DetailsDraft | undefined;
      return write(
        data,
        customers,
        call,
        tenantId,
        req.requestId,
        UpdateCustomerResponseSchema,
        (em) =>
          customers.update(em, tenantId, request.id, request.etag, (current) => {
            const paths = resolvePaths(req.updateMask, request, current.type);
            const merged = mergePaths(customerToProto(current), request, paths);
            validateMerged(merged);
            return (draft = draftFromProto(merged, current));
          }, actor),
        () => draft ?? { email: "", phoneNumber: null, externalId: null },
      );
    },

    activateCustomer: lifecycle("activate", ActivateCustomerResponseSchema),
    suspendCustomer: lifecycle("suspend", SuspendCustomerResponseSchema),
    closeCustomer: lifecycle("close", CloseCustomerResponseSchema),

    async eraseCustomer(req, call) {
      const { tenantId, actor } = tenantCall(call);
      return write(data, customers, call, tenantId, "", EraseCustomerResponseSchema, (em) => customers.erase(em, tenantId, req.id, req.etag, actor));
    },

    async linkCustomer(req, call) {
      const { tenantId, actor } = tenantCall(call, req.requestId);
      const link = req.link!;
      return write(data, customers, call, tenantId, req.requestId, LinkCustomerResponseSchema, (em) =>
        customers.link(em, tenantId, req.id, req.etag, linkKindMap.fromPb(link.kind)!, link.externalId, actor));
    },

    async unlinkCustomer(req, call) {
      const { tenantId, actor } = tenantCall(call, req.requestId);
      return write(data, customers, call, tenantId, req.requestId, UnlinkCustomerResponseSchema, (em) =>
        customers.unlink(em, tenantId, req.id, req.etag, linkKindMap.fromPb(req.kind)!, req.externalId, actor));
    },
  };
}

// Data access for customers. Every query is scoped by tenant: a customer of another tenant is
// indistinguishable from one that does not exist. Writes are conditional on the version read
// (optimistic locking); a lost race returns false.
import type { EntityManager, FilterQuery } from "@mikro-orm/postgresql";
import type { Customer, CustomerStatus, CustomerType, Profile } from "./customer.js";
import { CustomerEntity, type CustomerRow } from "./customer.entity.js";

function toRow(c: Customer): CustomerRow {
  const { kind: _kind, ...profile } = c.profile;
  return {
    tenantId: c.tenantId,
    id: c.id,
    type: c.type,
    status: c.status,
    profile: profile as Record<string, unknown>,
    email: c.email,
    emailVerified: c.emailVerified,
    emailVerifyTime: c.emailVerifyTime,
    phoneNumber: c.phoneNumber,
    phoneVerified: c.phoneVerified,
    phoneVerifyTime: c.phoneVerifyTime,
    countryCode: c.countryCode,
    address: c.address as Record<string, unknown> | null,
    externalId: c.externalId,
    metadata: { ...c.metadata },
    links: c.links.map((l) => ({ kind: l.kind, externalId: l.externalId, linkTime: l.linkTime.toISOString() })),
    statusReason: c.statusReason,
    statusNote: c.statusNote,
    statusTime: c.statusTime,
    version: c.version,
    createTime: c.createTime,
    updateTime: c.updateTime,
  };
}

function fromRow(r: CustomerRow): Customer {
  return {
    tenantId: r.tenantId,
    id: r.id,
    type: r.type as CustomerType,
    status: r.status as CustomerStatus,
    profile: { ...r.profile, kind: r.type } as unknown as Profile,
    email: r.email,
    emailVerified: r.emailVerified,
    emailVerifyTime: r.emailVerifyTime,
    phoneNumber: r.phoneNumber,
    phoneVerified: r.phoneVerified,
    phoneVerifyTime: r.phoneVerifyTime,
    countryCode: r.countryCode,
    address: r.address as Customer["address"],
    externalId: r.externalId,
    metadata: r.metadata ?? {},
    links: (r.links ?? []).map((l) => ({
      kind: l.kind as Customer["links"][number]["kind"],
      externalId: String(l.externalId),
      linkTime: new Date(String(l.linkTime)),
    })),
    statusReason: r.statusReason as Customer["statusReason"],
    statusNote: r.statusNote,
    statusTime: r.statusTime,
    version: r.version,
    createTime: r.createTime,
    updateTime: r.updateTime,
  };
}

export interface CustomerFilter {
  readonly status?: CustomerStatus;
  readonly type?: CustomerType;
  readonly email?: string;
  readonly phoneNumber?: string;
  readonly externalId?: string;
  readonly createdAfter?: Date;
  readonly createdBefore?: Date;
}

/** Position after which a page continues, newest first. */
export interface CustomerCursor {
  readonly createTime: Date;
  readonly id: string;
}

export type UniqueField = "email" | "phone_number" | "external_id";

/** The partial unique indexes, by the field they protect. */
export const UNIQUE_CONSTRAINTS: Readonly<Record<string, UniqueField>> = {
  customers_live_email_key: "email",
  customers_live_phone_number_key: "phone_number",
  customers_live_external_id_key: "external_id",
};

export class CustomerRepository {
  async insert(em: EntityManager, customer: Customer): Promise<void> {
    await em.insert(CustomerEntity, toRow(customer));
  }

  async findById(em: EntityManager, tenantId: string, id: string): Promise<Customer | null> {
    const row = await em.findOne(CustomerEntity, { tenantId, id }, { disableIdentityMap: true });
    return row === null ? null : fromRow(row);
  }

  /** Writes `next` if the stored version is still `expectedVersion`; false if it is not. */
  async update(em: EntityManager, next: Customer, expectedVersion: number): Promise<boolean> {
    const { tenantId, id, ...changes } = toRow(next);
    const affected = await em.nativeUpdate(CustomerEntity, { tenantId, id, version: expectedVersion }, changes);
    return affected === 1;
  }

  async list(em: EntityManager, tenantId: string, filter: CustomerFilter, limit: number, after?: CustomerCursor): Promise<Customer[]> {
    const and: Array<FilterQuery<CustomerRow>> = [{ tenantId }];
    if (filter.status) and.push({ status: filter.status });
    if (filter.type) and.push({ type: filter.type });
    if (filter.email !== undefined) and.push({ email: filter.email });
    if (filter.phoneNumber !== undefined) and.push({ phoneNumber: filter.phoneNumber });
    if (filter.externalId !== undefined) and.push({ externalId: filter.externalId });
    if (filter.createdAfter) and.push({ createTime: { $gte: filter.createdAfter } });
    if (filter.createdBefore) and.push({ createTime: { $lt: filter.createdBefore } });
    if (after) {
      and.push({ $or: [{ createTime: { $lt: after.createTime } }, { createTime: after.createTime, id: { $lt: after.id } }] });
    }
    const rows = await em.find(CustomerEntity, { $and: and }, {
      orderBy: { createTime: "desc", id: "desc" },
      limit,
      disableIdentityMap: true,
    });
    return rows.map(fromRow);
  }

  /** The non-closed customer holding a unique value, if any (to explain a conflict). */
  async findLiveBy(em: EntityManager, tenantId: string, field: UniqueField, value: string): Promise<string | null> {
    const where: FilterQuery<CustomerRow> =
      field === "email" ? { tenantId, email: value } : field === "phone_number" ? { tenantId, phoneNumber: value } : { tenantId, externalId: value };
    const row = await em.findOne(CustomerEntity, { $and: [where, { status: { $ne: "closed" } }] }, { fields: ["id"], disableIdentityMap: true });
    return row?.id ?? null;
  }
}

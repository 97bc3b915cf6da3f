// Data access for customers. Every query is scoped by tenant: a customer of another tenant is
// indistinguishable from one that does not exist.
import type { EntityManager } from "@mikro-orm/postgresql";
import type { Customer, Profile } from "./customer.js";
import { CustomerEntity, type CustomerRow } from "./customer.entity.js";

function toRow(c: Customer): CustomerRow {
  const { kind: _kind, ...profile } = c.profile;
  return {
    tenantId: c.tenantId,
    id: c.id,
    type: c.type,
    status: c.status,
    profile,
    email: c.email,
    emailVerified: c.emailVerified,
    phoneNumber: c.phoneNumber,
    phoneVerified: c.phoneVerified,
    countryCode: c.countryCode,
    version: c.version,
    createTime: c.createTime,
    updateTime: c.updateTime,
  };
}

function fromRow(r: CustomerRow): Customer {
  return {
    tenantId: r.tenantId,
    id: r.id,
    type: r.type,
    status: r.status,
    profile: { ...r.profile, kind: r.type } as unknown as Profile,
    email: r.email,
    emailVerified: r.emailVerified,
    phoneNumber: r.phoneNumber,
    phoneVerified: r.phoneVerified,
    countryCode: r.countryCode,
    version: r.version,
    createTime: r.createTime,
    updateTime: r.updateTime,
  };
}

export class CustomerRepository {
  async insert(em: EntityManager, customer: Customer): Promise<void> {
    await em.insert(CustomerEntity, toRow(customer));
  }

  async findById(em: EntityManager, tenantId: string, id: string): Promise<Customer | null> {
    const row = await em.findOne(CustomerEntity, { tenantId, id });
    return row === null ? null : fromRow(row);
  }
}

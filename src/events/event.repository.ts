// Appends customer events inside the caller's transaction.
import { randomUUID } from "node:crypto";
import type { EntityManager } from "@mikro-orm/postgresql";
import { CustomerEventEntity, type CustomerEventRow } from "./event.entity.js";

export type NewCustomerEvent = Omit<CustomerEventRow, "id">;

export class EventRepository {
  async append(em: EntityManager, event: NewCustomerEvent): Promise<void> {
    await em.insert(CustomerEventEntity, { id: randomUUID(), ...event });
  }

  forCustomer(em: EntityManager, tenantId: string, customerId: string): Promise<CustomerEventRow[]> {
    return em.find(CustomerEventEntity, { tenantId, customerId }, { orderBy: { time: "asc", id: "asc" } });
  }
}

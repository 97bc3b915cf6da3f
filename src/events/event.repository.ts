// Customer events: appended inside the caller's transaction with the tenant's next sequence
// number (commit order, see event.entity.ts) and a NOTIFY that wakes stream readers once the
// transaction commits; read back per customer (history) or per tenant after a cursor (stream).
import { randomUUID } from "node:crypto";
import type { EntityManager } from "@mikro-orm/postgresql";
import { CustomerEventEntity, type CustomerEventRow } from "./event.entity.js";

export type NewCustomerEvent = Omit<CustomerEventRow, "id" | "seq" | "details"> & { details?: Record<string, unknown> };

/** The NOTIFY channel; the payload is the tenant id. Delivered only on commit. */
export const EVENTS_CHANNEL = "cms_customer_events";

export class EventRepository {
  async append(em: EntityManager, event: NewCustomerEvent): Promise<void> {
    const conn = em.getConnection();
    // The tenant's counter row stays locked until this transaction ends: numbering = commit order.
    const [row] = await conn.execute<Array<{ last_seq: string }>>(
      `insert into tenant_event_sequences (tenant_id, last_seq) values (?, 1)
       on conflict (tenant_id) do update set last_seq = tenant_event_sequences.last_seq + 1
       returning last_seq`,
      [event.tenantId],
      "all",
      em.getTransactionContext(),
    );
    await em.insert(CustomerEventEntity, { details: {}, ...event, id: randomUUID(), seq: Number(row!.last_seq) });
    await conn.execute(`select pg_notify(?, ?)`, [EVENTS_CHANNEL, event.tenantId], "all", em.getTransactionContext());
  }

  /** One customer's history, newest first, before `beforeSeq` when given. */
  forCustomer(em: EntityManager, tenantId: string, customerId: string, limit: number, beforeSeq?: number): Promise<CustomerEventRow[]> {
    return em.find(
      CustomerEventEntity,
      { tenantId, customerId, ...(beforeSeq !== undefined ? { seq: { $lt: beforeSeq } } : {}) },
      { orderBy: { seq: "desc" }, limit, disableIdentityMap: true },
    );
  }

  /** The tenant's last committed sequence number (0 before its first event). */
  async lastSeq(em: EntityManager, tenantId: string): Promise<number> {
    const [row] = await em.execute<Array<{ last_seq: string }>>("select last_seq from tenant_event_sequences where tenant_id = ?", [tenantId]);
    return row ? Number(row.last_seq) : 0;
  }

  /** A tenant's events after `afterSeq`, in order. */
  after(em: EntityManager, tenantId: string, afterSeq: number, limit: number): Promise<CustomerEventRow[]> {
    return em.find(CustomerEventEntity, { tenantId, seq: { $gt: afterSeq } }, { orderBy: { seq: "asc" }, limit, disableIdentityMap: true });
  }
}

// Customer events: appended inside the caller's transaction with the tenant's next sequence
// number (commit order, see event.entity.ts) and a NOTIFY that wakes stream readers once the
// transaction commits; read back per customer (history) or per tenant after a cursor (stream).
import { randomUUID } from "node:crypto";
import type { EntityManager } from "@mikro-orm/postgresql";
import { sqlOf, statement } from "../db/sql.js";
import { CustomerEventEntity, type CustomerEventRow } from "./event.entity.js";

export type NewCustomerEvent = Omit<CustomerEventRow, "id" | "seq" | "details"> & { details?: Record<string, unknown> };

/** The NOTIFY channel; the payload is the tenant id. Delivered only on commit. */
export const EVENTS_CHANNEL = "cms_customer_events";

// The tenant's counter row stays locked until the transaction ends: numbering = commit order.
const APPEND = statement(
  "customer_event_append",
  `with next as (
     insert into tenant_event_sequences (tenant_id, last_seq) values ($1, 1)
     on conflict (tenant_id) do update set last_seq = tenant_event_sequences.last_seq + 1
     returning last_seq
   ), appended as (
     insert into customer_events (tenant_id, id, seq, customer_id, type, actor, request_id, reason, note, changed_fields, details, time)
     select $1::uuid, $2::uuid, next.last_seq, $3::uuid, $4::text, $5::text, $6::uuid, $7::text, $8::text, $9::jsonb, $10::jsonb, $11::timestamptz from next
     returning tenant_id
   )
   select pg_notify($12, tenant_id::text) from appended`,
);

export class EventRepository {
  /** The tenant's next number, the event and the NOTIFY in ONE statement (one round trip, not
   * three; the sequence row's lock is taken first, as before). */
  async append(em: EntityManager, event: NewCustomerEvent): Promise<void> {
    await sqlOf(em).run(APPEND, [
      event.tenantId,
      randomUUID(),
      event.customerId,
      event.type,
      event.actor,
      event.requestId,
      event.reason,
      event.note,
      JSON.stringify(event.changedFields),
      JSON.stringify(event.details ?? {}),
      event.time,
      EVENTS_CHANNEL,
    ]);
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

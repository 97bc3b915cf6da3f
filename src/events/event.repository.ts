// Customer events: appended inside the caller's transaction with the tenant's next sequence
// number (commit order, see event.entity.ts) and a NOTIFY that wakes stream readers once the
// transaction commits; read back per customer (history) or per tenant after a cursor (stream).
import { randomUUID } from "node:crypto";
import type { EntityManager } from "@mikro-orm/postgresql";
import { deferUntilCommit } from "../db/scope.js";
import { literal } from "../db/sql.js";
import { CustomerEventEntity, type CustomerEventRow } from "./event.entity.js";

export type NewCustomerEvent = Omit<CustomerEventRow, "id" | "seq" | "details"> & { details?: Record<string, unknown> };

/** The NOTIFY channel; the payload is the tenant id. Delivered only on commit. */
export const EVENTS_CHANNEL = "cms_customer_events";

const lit = literal;
const litOrNull = (v: string | null) => (v === null ? "null" : lit(v));

/** The tenant's next number, the event and the NOTIFY as one statement (values as literals: it
 * is sent with the commit, db/scope.ts deferUntilCommit). The tenant's counter row stays locked
 * until the transaction ends: numbering = commit order. Exported for test/bench/event-numbering.ts. */
export function appendStatement(e: NewCustomerEvent): string {
  return `with next as (
     insert into tenant_event_sequences (tenant_id, last_seq) values (${lit(e.tenantId)}, 1)
     on conflict (tenant_id) do update set last_seq = tenant_event_sequences.last_seq + 1
     returning last_seq
   ), appended as (
     insert into customer_events (tenant_id, id, seq, customer_id, type, actor, request_id, reason, note, changed_fields, details, time)
     select ${lit(e.tenantId)}::uuid, ${lit(randomUUID())}::uuid, next.last_seq, ${lit(e.customerId)}::uuid, ${lit(e.type)}, ${lit(e.actor)},
       ${litOrNull(e.requestId)}::uuid, ${litOrNull(e.reason)}, ${lit(e.note)}, ${lit(JSON.stringify(e.changedFields))}::jsonb,
       ${lit(JSON.stringify(e.details ?? {}))}::jsonb, ${lit(e.time.toISOString())}::timestamptz from next
     returning tenant_id
   )
   select pg_notify(${lit(EVENTS_CHANNEL)}, tenant_id::text) from appended`;
}

export class EventRepository {
  /** Appends the event at the end of the transaction, with its commit (db/scope.ts
   * deferUntilCommit), after every other deferred statement: the tenant's sequence row, which
   * every writer of the tenant needs, is then locked for that last statement and the commit only. */
  append(em: EntityManager, event: NewCustomerEvent): void {
    deferUntilCommit(em, appendStatement(event), true);
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

// Customer events: inserted inside the caller's transaction without a number, and numbered after
// its commit (event.sequencer.ts; the database function number_customer_events numbers a tenant's
// committed events and wakes stream readers with a NOTIFY); read back per customer (history) or
// per tenant after a cursor (stream), numbered ones only.
import { randomUUID } from "node:crypto";
import type { EntityManager } from "@mikro-orm/postgresql";
import { afterCommit, deferUntilCommit } from "../db/scope.js";
import { literal } from "../db/sql.js";
import { CustomerEventEntity, type CustomerEventRow } from "./event.entity.js";
import type { EventSequencer } from "./event.sequencer.js";

export type NewCustomerEvent = Omit<CustomerEventRow, "id" | "seq" | "details" | "appendOrder"> & { details?: Record<string, unknown> };

/** The NOTIFY channel; the payload is the tenant id. Sent by number_customer_events. */
export const EVENTS_CHANNEL = "cms_customer_events";

const lit = literal;
const litOrNull = (v: string | null) => (v === null ? "null" : lit(v));

/** The event without a number (values as literals: it is sent with the commit, db/scope.ts
 * deferUntilCommit); `append_order` comes from its default. Exported for
 * test/bench/event-numbering.ts. */
export function appendStatement(e: NewCustomerEvent): string {
  return `insert into customer_events (tenant_id, id, customer_id, type, actor, request_id, reason, note, changed_fields, details, time)
     values (${lit(e.tenantId)}::uuid, ${lit(randomUUID())}::uuid, ${lit(e.customerId)}::uuid, ${lit(e.type)}, ${lit(e.actor)},
       ${litOrNull(e.requestId)}::uuid, ${litOrNull(e.reason)}, ${lit(e.note)}, ${lit(JSON.stringify(e.changedFields))}::jsonb,
       ${lit(JSON.stringify(e.details ?? {}))}::jsonb, ${lit(e.time.toISOString())}::timestamptz)`;
}

export class EventRepository {
  constructor(private readonly sequencer: EventSequencer) {}

  /** Inserts the event with the transaction's commit (db/scope.ts deferUntilCommit), then, once
   * committed, waits for its numbering (the transaction's promise resolves after it). */
  append(em: EntityManager, event: NewCustomerEvent): void {
    deferUntilCommit(em, appendStatement(event));
    afterCommit(em, `number-events:${event.tenantId}`, () => this.sequencer.numbered(event.tenantId));
  }

  /** One customer's history, newest first, before `beforeSeq` when given. */
  forCustomer(em: EntityManager, tenantId: string, customerId: string, limit: number, beforeSeq?: number): Promise<CustomerEventRow[]> {
    return em.find(
      CustomerEventEntity,
      { tenantId, customerId, seq: beforeSeq !== undefined ? { $lt: beforeSeq } : { $ne: null } },
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

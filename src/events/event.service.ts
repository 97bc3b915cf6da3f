// Reading events: a customer's history, and the tenant's live stream (replay after a cursor, then
// follow). The table is the source of truth; the listener only says when to look again, and a
// poll interval covers missed notifications. Back-pressure: the stream is an async generator
// that reads the next batch only when the consumer has taken the previous one.
import type { EntityManager } from "@mikro-orm/postgresql";
import type { Scopes } from "../db/scope.js";
import { invalidArgument, notFound } from "../errors.js";
import type { CustomerEventRow } from "./event.entity.js";
import type { EventListener } from "./event.listener.js";
import type { EventRepository } from "./event.repository.js";

export type StreamItem = { readonly kind: "event"; readonly event: CustomerEventRow } | { readonly kind: "heartbeat"; readonly seq: number };

export interface StreamOptions {
  readonly afterSeq: number;
  readonly types: ReadonlySet<string>;
  readonly signal: AbortSignal;
  readonly heartbeatMs: number;
  readonly pollMs: number;
  readonly batch: number;
}

export class EventService {
  constructor(
    private readonly scopes: Scopes,
    private readonly repo: EventRepository,
    private readonly listener: EventListener,
    private readonly customerExists: (em: EntityManager, tenantId: string, customerId: string) => Promise<boolean>,
  ) {}

  /** `beforeSeq` is resolved only after the customer is known to be the tenant's: another
   * tenant's customer is NOT_FOUND whatever page token comes with it. */
  async history(tenantId: string, customerId: string, limit: number, beforeSeq: () => number | undefined, deadline?: number): Promise<CustomerEventRow[]> {
    return this.scopes.tenant(tenantId, deadline)(async (em) => {
      if (!(await this.customerExists(em, tenantId, customerId))) {
        throw notFound("CUSTOMER_NOT_FOUND", `customer ${customerId} not found`);
      }
      return this.repo.forCustomer(em, tenantId, customerId, limit, beforeSeq());
    });
  }

  async *stream(tenantId: string, o: StreamOptions): AsyncGenerator<StreamItem> {
    // A cursor past the end (e.g. the database was restored to an earlier point) would make the
    // stream skip every new event up to it: refuse it instead.
    const inTenant = this.scopes.tenant(tenantId);
    if (o.afterSeq > (await inTenant((em) => this.repo.lastSeq(em, tenantId)))) {
      throw invalidArgument(
        [{ field: "after_cursor", ruleId: "cursor.known", message: "is ahead of this tenant's stream (was the database restored?)" }],
        "INVALID_CURSOR",
      );
    }
    let seq = o.afterSeq;
    let pending = true; // something may be there: look
    let wake: (() => void) | undefined;
    const unsubscribe = this.listener.subscribe(tenantId, () => {
      pending = true;
      wake?.();
    });
    const onAbort = () => wake?.();
    o.signal.addEventListener("abort", onAbort, { once: true });
    let lastSent = Date.now();
    try {
      while (!o.signal.aborted) {
        if (pending) {
          pending = false;
          const after = seq;
          const rows = await inTenant((em) => this.repo.after(em, tenantId, after, o.batch));
          for (const row of rows) {
            seq = row.seq;
            if (o.types.size === 0 || o.types.has(row.type)) {
              yield { kind: "event", event: row };
              lastSent = Date.now();
            }
            if (o.signal.aborted) return;
          }
          if (rows.length === o.batch) pending = true; // more to replay
          if (pending) continue;
        }
        // Idle: wait for a notification, the poll interval, or the heartbeat.
        const waitMs = Math.max(0, Math.min(o.pollMs, lastSent + o.heartbeatMs - Date.now()));
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, waitMs);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        wake = undefined;
        if (o.signal.aborted) return;
        if (Date.now() - lastSent >= o.heartbeatMs) {
          yield { kind: "heartbeat", seq };
          lastSent = Date.now();
        }
        pending = true; // poll: a notification may have been missed
      }
    } finally {
      unsubscribe();
      o.signal.removeEventListener("abort", onAbort);
    }
  }
}

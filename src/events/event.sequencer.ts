// Numbers committed events (docs/architecture.md §14). A writing transaction inserts its events
// without a number; after its commit, the call waits here for a numbering of its tenant that
// STARTED after that commit (so it saw the event): `number_customer_events` (one prepared
// statement, its own short transaction) numbers every committed, unnumbered event of the tenant.
// Per tenant and process one numbering runs at a time, and the calls that commit while it runs
// share the next one: under load one numbering serves many writes. Other processes number the
// same tenant safely (the function locks the tenant's counter row). A numbering that fails does
// not fail the calls (their writes are committed): the sweep, every `sweepMs` and at start, numbers
// what a failure or a crash between commit and numbering left behind.
import type { Scopes } from "../db/scope.js";
import { statement } from "../db/sql.js";

/** Events numbered per statement at most; more pending ones take another round. */
export const NUMBERING_BATCH = 1_000;

const NUMBER_EVENTS = statement("number_customer_events", "select number_customer_events($1, $2, $3) as n");

/** Where the numbering happens: the database, through the service's scopes (numberingStore) or
 * any other client of the same function (the bench's hand-written baseline). */
export interface NumberingStore {
  /** Numbers up to NUMBERING_BATCH committed, unnumbered events of the tenant; how many it did. */
  number(tenantId: string): Promise<number>;
  /** The tenants that have committed, unnumbered events (a partial index holds exactly those). */
  unnumbered(): Promise<string[]>;
}

export function numberingStore(scopes: Scopes): NumberingStore {
  return {
    async number(tenantId) {
      const [row] = await scopes.tenantCall<{ n: number }>(NUMBER_EVENTS, [tenantId, NUMBERING_BATCH]);
      return row?.n ?? 0;
    },
    async unnumbered() {
      const rows = await scopes.operator("maintenance/number-events")((em) =>
        em.execute<Array<{ tenant_id: string }>>("select distinct tenant_id from customer_events where seq is null"),
      );
      return rows.map((r) => r.tenant_id);
    },
  };
}

interface TenantQueue {
  /** Calls waiting for the next numbering (the one after the running one, if any). */
  next: Array<() => void>;
  /** Settles when nobody waits any more (then the queue is gone). */
  drained?: Promise<void>;
}

export class EventSequencer {
  private readonly queues = new Map<string, TenantQueue>();
  private sweeper: NodeJS.Timeout | undefined;
  private sweeping: Promise<void> | undefined;
  /** The last sweep failed: the next failures are not logged again (the database is down, and
   * the health check says so) until one succeeds. */
  private sweepFailed = false;
  private stopped = false;

  constructor(
    private readonly store: NumberingStore,
    private readonly warn: (message: string, err: Error) => void,
    private readonly sweepMs = 1_000,
  ) {}

  /** Resolves once a numbering of `tenantId` that started after this call has finished. Never
   * rejects: a failed numbering is logged and left to the sweep. */
  numbered(tenantId: string): Promise<void> {
    return new Promise<void>((resolve) => {
      const queue = this.queues.get(tenantId);
      if (queue !== undefined) {
        queue.next.push(resolve); // a numbering is running: it may have missed this commit
        return;
      }
      const fresh: TenantQueue = { next: [resolve] };
      this.queues.set(tenantId, fresh);
      fresh.drained = this.drain(tenantId, fresh);
    });
  }

  /** Numbers what is left unnumbered, now and every `sweepMs` (until stop()). */
  start(): Promise<void> {
    this.sweeper = setInterval(() => void this.sweep(), this.sweepMs);
    this.sweeper.unref();
    return this.sweep();
  }

  /** Stops the sweep and waits for the numberings under way. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.sweeper);
    await Promise.all([this.sweeping, ...Array.from(this.queues.values(), (queue) => queue.drained)]);
  }

  private async drain(tenantId: string, queue: TenantQueue): Promise<void> {
    while (queue.next.length > 0) {
      const waiting = queue.next;
      queue.next = [];
      try {
        while ((await this.store.number(tenantId)) === NUMBERING_BATCH) {
          // more than a batch was pending: go on
        }
      } catch (err) {
        this.warn("could not number committed events; the sweep will retry", err as Error);
      }
      for (const resolve of waiting) resolve();
    }
    this.queues.delete(tenantId);
  }

  /** Every tenant with committed, unnumbered events, numbered. Overlapping sweeps are skipped. */
  private sweep(): Promise<void> {
    if (this.sweeping !== undefined || this.stopped) return this.sweeping ?? Promise.resolve();
    this.sweeping = (async () => {
      try {
        const tenants = await this.store.unnumbered();
        this.sweepFailed = false;
        await Promise.all(tenants.map((tenantId) => this.numbered(tenantId)));
      } catch (err) {
        if (!this.sweepFailed) this.warn("could not look for unnumbered events; retrying every sweep", err as Error);
        this.sweepFailed = true;
      } finally {
        this.sweeping = undefined;
      }
    })();
    return this.sweeping;
  }
}

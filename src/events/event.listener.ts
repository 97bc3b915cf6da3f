// Wake-ups for event streams: one dedicated connection per process LISTENs on the events
// channel and tells the subscribers of a tenant that something was committed. Only a signal:
// readers always read the table. A lost connection reconnects with backoff; streams also poll
// on their own, so a missed notification delays an event, never loses it.
import pg from "pg";
import type { Logger } from "../observability/logger.js";
import { EVENTS_CHANNEL } from "./event.repository.js";

export class EventListener {
  private client: pg.Client | undefined;
  private readonly subscribers = new Map<string, Set<() => void>>();
  private stopped = false;
  private retryTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly url: string,
    private readonly logger: Logger,
  ) {}

  async start(): Promise<void> {
    await this.connect().catch((err: Error) => this.retry(err));
  }

  /** Calls `wake` after each commit of an event of the tenant, until the returned function is called. */
  subscribe(tenantId: string, wake: () => void): () => void {
    let set = this.subscribers.get(tenantId);
    if (set === undefined) this.subscribers.set(tenantId, (set = new Set()));
    set.add(wake);
    return () => {
      set!.delete(wake);
      if (set!.size === 0) this.subscribers.delete(tenantId);
    };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    await this.client?.end().catch(() => undefined);
  }

  private async connect(): Promise<void> {
    const client = new pg.Client({ connectionString: this.url, connectionTimeoutMillis: 5_000 });
    client.on("notification", (n) => {
      for (const wake of this.subscribers.get(n.payload ?? "") ?? []) wake();
    });
    client.on("error", (err) => this.retry(err));
    await client.connect();
    await client.query(`LISTEN ${EVENTS_CHANNEL}`);
    this.client = client;
    // Anything committed while we were not listening: let every stream look again.
    for (const set of this.subscribers.values()) for (const wake of set) wake();
  }

  private retry(err: Error): void {
    if (this.stopped || this.retryTimer !== undefined) return;
    this.logger.warn({ err: err.message }, "event listener lost its connection; streams poll until it is back");
    const old = this.client;
    this.client = undefined;
    void old?.end().catch(() => undefined);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (!this.stopped) this.connect().catch((e: Error) => this.retry(e));
    }, 1_000);
    this.retryTimer.unref();
  }
}

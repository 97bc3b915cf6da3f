// Connections kept checked out between two statements of the service, so that a statement does
// not go through knex's pool (tarn) when a connection is idle anyway. Per checkout, tarn builds
// two timed pending operations (the acquire and its validation: two timers and about a dozen
// promises) and knex wraps it in an async function of its own: in the GetCustomer profile that
// was the largest allocator of the call (≈ 6 KB of 53 KB) and about 3 % of its CPU.
//
// tarn stays the pool: it opens, validates, limits and closes the connections. This only keeps
// the ones the service released (healthy, after a statement or transaction that succeeded) on a
// stack, and hands the top one to the next statement. Kept connections go back to tarn:
// - when anyone else asks tarn for one (MikroORM's own queries, the health check): its
//   `acquireRequest` event, before tarn looks for a free connection;
// - when tarn has callers waiting (never parked then);
// - when the service has made no statement for IDLE_MS (so tarn's idle reaping still applies);
// - when the pool is destroyed (its `poolDestroyRequest` event: tarn waits for every connection
//   checked out) or `close()` is called.
// A kept connection that failed meanwhile (knex marks it `__knex__disposed` on its error or end
// events) goes back to tarn, which destroys it on validation, and the next one is tried.

/** A pg connection as knex's pool hands it out. */
export interface PoolConnection {
  __knex__disposed?: unknown;
}

/** What this needs of knex's client and its tarn pool. */
export interface KnexPoolClient<C> {
  acquireConnection(): Promise<C>;
  releaseConnection(c: C): Promise<void>;
  pool?: {
    numPendingAcquires(): number;
    on(event: "acquireRequest" | "poolDestroyRequest", listener: () => void): void;
  };
}

/** How long kept connections outlive the service's last statement. */
export const IDLE_MS = 1_000;

export class WarmPool<C extends PoolConnection> {
  private readonly kept: C[] = [];
  private hooked = false;
  private closed = false;
  private uses = 0;
  private usesAtLastSweep = 0;
  private sweeper: NodeJS.Timeout | undefined;

  constructor(private readonly client: () => KnexPoolClient<C>) {}

  /** How many connections are kept (checked out of tarn, idle). */
  get size(): number {
    return this.kept.length;
  }

  /** A kept connection, else one from knex's pool. */
  acquire(): C | Promise<C> {
    const client = this.client();
    this.hook(client);
    this.uses++;
    for (let c = this.kept.pop(); c !== undefined; c = this.kept.pop()) {
      if (c.__knex__disposed === undefined) return c;
      void client.releaseConnection(c);
    }
    return client.acquireConnection();
  }

  /** Takes `c` back after use: kept when `healthy` (its work succeeded) and nobody waits for a
   * connection, else returned to knex's pool. knex's release is synchronous. */
  release(c: C, healthy: boolean): void {
    const client = this.client();
    if (healthy && !this.closed && c.__knex__disposed === undefined && (client.pool?.numPendingAcquires() ?? 1) === 0) {
      this.kept.push(c);
      this.sweeper ??= setInterval(() => this.sweep(), IDLE_MS).unref();
      return;
    }
    void client.releaseConnection(c);
  }

  /** Returns every kept connection to knex's pool. */
  flush(): void {
    if (this.kept.length === 0) return;
    const client = this.client();
    for (let c = this.kept.pop(); c !== undefined; c = this.kept.pop()) void client.releaseConnection(c);
  }

  /** Returns the kept connections and keeps none from now on (before the pool is closed). */
  close(): void {
    this.closed = true;
    clearInterval(this.sweeper);
    this.sweeper = undefined;
    this.flush();
  }

  private sweep(): void {
    if (this.uses === this.usesAtLastSweep) this.flush();
    this.usesAtLastSweep = this.uses;
  }

  private hook(client: KnexPoolClient<C>): void {
    if (this.hooked || client.pool === undefined) return;
    this.hooked = true;
    client.pool.on("acquireRequest", () => this.flush());
    client.pool.on("poolDestroyRequest", () => this.close());
  }
}

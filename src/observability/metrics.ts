// Prometheus metrics (prom-client), served at GET /metrics on the service port: per-RPC counters
// by outcome code and latency histograms, the database pool, Redis, event-stream delivery lag, and
// the process (CPU, memory, event loop, GC). One registry per app (tests run several in a process).
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

export interface PoolStats {
  used: number;
  free: number;
  pendingAcquires: number;
}

export interface MetricSources {
  /** The service's database pool, when it can be read. */
  pool(): PoolStats | undefined;
  /** 1 while Redis is connected and ready, 0 otherwise; undefined without Redis. */
  redisReady(): number | undefined;
}

export class Metrics {
  readonly registry = new Registry();
  private readonly rpcs: Counter<"service" | "method" | "code">;
  private readonly latency: Histogram<"service" | "method">;
  private readonly lag: Histogram;
  readonly streamsOpen: Gauge;

  constructor(sources: MetricSources) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: "customerms_" });
    this.rpcs = new Counter({ name: "customerms_rpc_total", help: "RPCs handled, by outcome code", labelNames: ["service", "method", "code"], registers });
    this.latency = new Histogram({
      name: "customerms_rpc_duration_seconds",
      help: "RPC latency in the server (unary: whole call; streams: until the first message)",
      labelNames: ["service", "method"],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.lag = new Histogram({
      name: "customerms_event_stream_lag_seconds",
      help: "Time from an event's commit to its delivery on a WatchCustomerEvents stream",
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 30, 300],
      registers,
    });
    this.streamsOpen = new Gauge({ name: "customerms_event_streams_open", help: "Open WatchCustomerEvents streams", registers });
    const pool = (name: string, help: string, pick: (p: PoolStats) => number) =>
      new Gauge({
        name,
        help,
        registers,
        collect() {
          const p = sources.pool();
          if (p !== undefined) this.set(pick(p));
        },
      });
    pool("customerms_db_pool_connections_in_use", "Database connections checked out", (p) => p.used);
    pool("customerms_db_pool_connections_idle", "Idle database connections in the pool", (p) => p.free);
    pool("customerms_db_pool_waiting", "Requests waiting for a database connection", (p) => p.pendingAcquires);
    new Gauge({
      name: "customerms_redis_ready",
      help: "1 while the Redis connection is ready (absent without REDIS_URL)",
      registers,
      collect() {
        const r = sources.redisReady();
        if (r !== undefined) this.set(r);
      },
    });
  }

  /** Label children by "service/method/code": prom-client hashes and checks the labels on every
   * inc/observe otherwise (measured per RPC). */
  private readonly children = new Map<string, { count: { inc(): void }; latency: { observe(v: number): void } }>();

  rpc(service: string, method: string, code: string, seconds: number): void {
    const key = `${service}/${method}/${code}`;
    let child = this.children.get(key);
    if (child === undefined) {
      child = { count: this.rpcs.labels({ service, method, code }), latency: this.latency.labels({ service, method }) };
      this.children.set(key, child);
    }
    child.count.inc();
    child.latency.observe(seconds);
  }

  eventDelivered(eventTime: Date): void {
    this.lag.observe(Math.max(0, (Date.now() - eventTime.getTime()) / 1000));
  }

  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}

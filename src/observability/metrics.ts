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
  private readonly lag: Histogram;
  readonly streamsOpen: Gauge;

  constructor(sources: MetricSources) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: "customerms_" });
    this.registry.registerMetric(this.rpcTotal as unknown as Counter);
    this.registry.registerMetric(this.rpcLatency as unknown as Histogram);
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

  /** Per-RPC counts and latencies, kept in plain numbers and rendered at scrape time: prom-client's
   * Counter and Histogram validate and hash the labels on every inc/observe, even on a labelled
   * child (≈ 2 % of a GetCustomer's CPU in a profile); these cost an array index. */
  private readonly rpcTotal = new RpcCounter("customerms_rpc_total", "RPCs handled, by outcome code");
  private readonly rpcLatency = new RpcHistogram(
    "customerms_rpc_duration_seconds",
    "RPC latency in the server (unary: whole call; streams: until the first message)",
    [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  );
  /** Series by "service/method/code" (the counter) and by "service/method" (the histogram). */
  private readonly children = new Map<string, { count: CounterSeries; latency: HistogramSeries }>();

  rpc(service: string, method: string, code: string, seconds: number): void {
    const key = `${service}/${method}/${code}`;
    let child = this.children.get(key);
    if (child === undefined) {
      child = { count: this.rpcTotal.series({ service, method, code }), latency: this.rpcLatency.series({ service, method }) };
      this.children.set(key, child);
    }
    child.count.value += 1;
    this.rpcLatency.observe(child.latency, seconds);
  }

  eventDelivered(eventTime: Date): void {
    this.lag.observe(Math.max(0, (Date.now() - eventTime.getTime()) / 1000));
  }

  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}

// --- Per-RPC metrics without prom-client's per-observation label handling -------------------

type Labels = Readonly<Record<string, string>>;
interface CounterSeries {
  readonly labels: Labels;
  value: number;
}
interface HistogramSeries {
  readonly labels: Labels;
  /** Observations per bucket (not cumulative); the last is above every bound (+Inf). */
  readonly counts: number[];
  sum: number;
  count: number;
}
/** What prom-client's Registry reads of a metric (Registry.getMetricsAsString/getMetricsAsJSON). */
interface Rendered {
  name: string;
  help: string;
  type: "counter" | "histogram";
  aggregator: "sum";
  values: Array<{ labels: Record<string, string | number>; value: number; metricName?: string }>;
}
const labelKey = (labels: Labels) => JSON.stringify(Object.entries(labels));

/** Series by their labels, registered with a prom-client Registry as a metric of its own. */
abstract class SeriesMetric<S extends { readonly labels: Labels }> {
  readonly aggregator = "sum";
  protected readonly all = new Map<string, S>();

  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: Rendered["type"],
  ) {}

  protected abstract make(labels: Labels): S;

  series(labels: Labels): S {
    const key = labelKey(labels);
    let s = this.all.get(key);
    if (s === undefined) this.all.set(key, (s = this.make(labels)));
    return s;
  }

  reset(): void {
    this.all.clear();
  }
}

/** A counter (same text output as prom-client's Counter). */
class RpcCounter extends SeriesMetric<CounterSeries> {
  constructor(name: string, help: string) {
    super(name, help, "counter");
  }

  protected make(labels: Labels): CounterSeries {
    return { labels, value: 0 };
  }

  async get(): Promise<Rendered> {
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values: [...this.all.values()].map((s) => ({ labels: { ...s.labels }, value: s.value })) };
  }
}

/** A histogram in the same form as prom-client's: cumulative `_bucket{le}` lines, `le` first, then
 * `_sum` and `_count`. */
class RpcHistogram extends SeriesMetric<HistogramSeries> {
  constructor(
    name: string,
    help: string,
    private readonly bounds: readonly number[],
  ) {
    super(name, help, "histogram");
  }

  protected make(labels: Labels): HistogramSeries {
    return { labels, counts: new Array<number>(this.bounds.length + 1).fill(0), sum: 0, count: 0 };
  }

  observe(s: HistogramSeries, value: number): void {
    if (!Number.isFinite(value)) return;
    let i = 0;
    while (i < this.bounds.length && value > this.bounds[i]!) i++;
    s.counts[i]! += 1;
    s.sum += value;
    s.count += 1;
  }

  async get(): Promise<Rendered> {
    const values: Rendered["values"] = [];
    for (const s of this.all.values()) {
      let cumulative = 0;
      this.bounds.forEach((le, i) => {
        cumulative += s.counts[i]!;
        values.push({ labels: { le, ...s.labels }, value: cumulative, metricName: `${this.name}_bucket` });
      });
      values.push({ labels: { le: "+Inf", ...s.labels }, value: s.count, metricName: `${this.name}_bucket` });
      values.push({ labels: { ...s.labels }, value: s.sum, metricName: `${this.name}_sum` });
      values.push({ labels: { ...s.labels }, value: s.count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }
}

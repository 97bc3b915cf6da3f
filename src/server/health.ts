// grpc.health.v1.Health. Each dependency (the database, Redis when configured) is pinged every
// interval; a service is SERVING while all the dependencies it needs answer, NOT_SERVING from the
// first failed ping (each ping is bounded by the interval, so a loss shows within two
// intervals). "" (the whole server) follows the database only: customer RPCs keep working
// without Redis. Watch streams the current status, then changes. During shutdown everything
// reports NOT_SERVING so load balancers stop sending calls.
import type { ConnectRouter, HandlerContext } from "@connectrpc/connect";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  Health,
  HealthCheckResponse_ServingStatus as Status,
} from "../../gen/grpc/health/v1/health_pb.js";
import type { Logger } from "../observability/logger.js";
import type { MethodRunner } from "./pipeline.js";

export type Probe = (timeoutMs: number) => Promise<void>;

export class HealthMonitor {
  private readonly up = new Map<string, boolean>();
  private draining = false;
  private timer: NodeJS.Timeout | undefined;
  private readonly listeners = new Set<() => void>();
  /** Names answered besides "" (the whole server): the fully-qualified service names. */
  readonly services: readonly string[];

  constructor(
    /** Each served service and the probes it needs; "" is added, needing "database". */
    private readonly needs: Readonly<Record<string, readonly string[]>>,
    private readonly probes: Readonly<Record<string, Probe>>,
    private readonly intervalMs: number,
    private readonly logger: Logger,
  ) {
    this.services = Object.keys(needs);
  }

  /** Runs the first check, then keeps checking in the background. */
  async start(): Promise<void> {
    await this.checkAll();
    this.timer = setInterval(() => void this.checkAll(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.draining = true;
    this.notify();
  }

  knows(service: string): boolean {
    return service === "" || this.services.includes(service);
  }

  status(service = ""): Status {
    const deps = service === "" ? ["database"] : (this.needs[service] ?? ["database"]);
    return !this.draining && deps.every((d) => this.up.get(d) === true) ? Status.SERVING : Status.NOT_SERVING;
  }

  /** Calls fn on every status change until the returned function is called. */
  subscribe(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private async checkAll(): Promise<void> {
    const results = await Promise.all(Object.entries(this.probes).map(async ([name, probe]) => [name, await this.check(name, probe)] as const));
    if (results.some(([, changed]) => changed)) this.notify();
  }

  /** One probe; true when its state changed. */
  private async check(name: string, probe: Probe): Promise<boolean> {
    let ok: boolean;
    try {
      await probe(this.intervalMs);
      ok = true;
    } catch (err) {
      ok = false;
      if (this.up.get(name) !== false) this.logger.warn({ dependency: name, err: (err as Error).message }, `${name} health check failed`);
    }
    if (ok === this.up.get(name)) return false;
    if (ok) this.logger.info({ dependency: name }, `${name} reachable`);
    this.up.set(name, ok);
    return true;
  }

  private notify(): void {
    for (const fn of this.listeners) fn();
  }
}

async function* watch(monitor: HealthMonitor, service: string, ctx: HandlerContext) {
  if (!monitor.knows(service)) {
    yield { status: Status.SERVICE_UNKNOWN };
    // Per the protocol the stream stays open: the service may appear later. It will not here,
    // so the stream just waits for the client to go away.
    await new Promise<void>((resolve) => ctx.signal.addEventListener("abort", () => resolve(), { once: true }));
    return;
  }
  let wake: (() => void) | undefined;
  let changed = false;
  const unsubscribe = monitor.subscribe(() => {
    changed = true;
    wake?.();
  });
  const onAbort = () => wake?.();
  ctx.signal.addEventListener("abort", onAbort, { once: true });
  try {
    let last = monitor.status(service);
    yield { status: last };
    while (!ctx.signal.aborted) {
      if (!changed) await new Promise<void>((resolve) => (wake = resolve));
      changed = false;
      const now = monitor.status(service);
      if (now !== last && !ctx.signal.aborted) {
        last = now;
        yield { status: now };
      }
    }
  } finally {
    unsubscribe();
    ctx.signal.removeEventListener("abort", onAbort);
  }
}

function check(monitor: HealthMonitor, service: string) {
  if (!monitor.knows(service)) {
    throw new ConnectError(`unknown service "${service}"`, Code.NotFound);
  }
  return { status: monitor.status(service) };
}

function list(monitor: HealthMonitor) {
  return { statuses: Object.fromEntries(["", ...monitor.services].map((s) => [s, { status: monitor.status(s) }])) };
}

export function registerHealth(router: ConnectRouter, monitor: HealthMonitor): void {
  router.service(Health, {
    check: (req) => check(monitor, req.service),
    list: () => list(monitor),
    watch: (req, ctx) => watch(monitor, req.service, ctx),
  });
}

/** Check and List for the gRPC fast path (load balancers and kubelets probe over plain gRPC);
 * Watch stays on connect-node. No chain: health is unauthenticated and not logged per call. */
export function healthRunners(monitor: HealthMonitor): MethodRunner[] {
  const method = (name: string) => Health.methods.find((m) => m.name === name)!;
  const direct = (err: unknown) => err;
  return [
    { method: method("Check"), run: async (call) => check(monitor, (call.message as unknown as { service: string }).service), mapStreamError: direct },
    { method: method("List"), run: async () => list(monitor), mapStreamError: direct },
  ];
}

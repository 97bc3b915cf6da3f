// grpc.health.v1.Health. Readiness follows the database: a ping every interval; SERVING while
// it answers, NOT_SERVING from the first failed ping (each ping is bounded by the interval, so a
// lost database shows within two intervals). Watch streams the current status, then changes.
// During shutdown everything reports NOT_SERVING so load balancers stop sending calls.
import type { ConnectRouter, HandlerContext } from "@connectrpc/connect";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  Health,
  HealthCheckResponse_ServingStatus as Status,
} from "../../gen/grpc/health/v1/health_pb.js";
import type { Logger } from "../observability/logger.js";

export class HealthMonitor {
  private serving = false;
  private draining = false;
  private timer: NodeJS.Timeout | undefined;
  private readonly listeners = new Set<() => void>();

  constructor(
    /** Names answered besides "" (the whole server): the fully-qualified service names. */
    readonly services: readonly string[],
    private readonly ping: (timeoutMs: number) => Promise<void>,
    private readonly intervalMs: number,
    private readonly logger: Logger,
  ) {}

  /** Runs the first check, then keeps checking in the background. */
  async start(): Promise<void> {
    await this.check();
    this.timer = setInterval(() => void this.check(), this.intervalMs);
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

  status(): Status {
    return this.serving && !this.draining ? Status.SERVING : Status.NOT_SERVING;
  }

  /** Calls fn on every status change until the returned function is called. */
  subscribe(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private async check(): Promise<void> {
    let ok: boolean;
    try {
      await this.ping(this.intervalMs);
      ok = true;
    } catch (err) {
      ok = false;
      if (this.serving) this.logger.warn({ err: (err as Error).message }, "database health check failed: NOT_SERVING");
    }
    if (ok !== this.serving) {
      if (ok) this.logger.info("database reachable: SERVING");
      this.serving = ok;
      this.notify();
    }
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
    let last = monitor.status();
    yield { status: last };
    while (!ctx.signal.aborted) {
      if (!changed) await new Promise<void>((resolve) => (wake = resolve));
      changed = false;
      const now = monitor.status();
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

export function registerHealth(router: ConnectRouter, monitor: HealthMonitor): void {
  router.service(Health, {
    check(req) {
      if (!monitor.knows(req.service)) {
        throw new ConnectError(`unknown service "${req.service}"`, Code.NotFound);
      }
      return { status: monitor.status() };
    },
    list() {
      const status = monitor.status();
      return { statuses: Object.fromEntries(["", ...monitor.services].map((s) => [s, { status }])) };
    },
    watch: (req, ctx) => watch(monitor, req.service, ctx),
  });
}

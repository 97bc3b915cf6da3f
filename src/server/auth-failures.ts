// Brute-force protection for credentials: failed authentications are counted per client address
// (rate-limiter-flexible; on Redis so replicas share the count, with an in-memory insurance
// limiter so auth never depends on Redis being up). Past the limit the address is refused with
// RESOURCE_EXHAUSTED before any lookup, until the window ends; each replica remembers the block
// locally, so a blocked address costs neither a database nor a Redis round trip.
import type { Redis } from "ioredis";
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from "rate-limiter-flexible";
import { AppError } from "../errors.js";

const WINDOW_SEC = 60;
const MAX_BLOCKED = 100_000;

export class AuthFailures {
  private readonly limiter: RateLimiterAbstract;
  private readonly blocked = new Map<string, number>();

  constructor(
    readonly perMinute: number,
    redis?: Redis,
    private readonly nowMs: () => number = Date.now,
  ) {
    const memory = new RateLimiterMemory({ keyPrefix: "cms:authfail", points: perMinute, duration: WINDOW_SEC });
    this.limiter = redis
      ? new RateLimiterRedis({ storeClient: redis, keyPrefix: "cms:authfail", points: perMinute, duration: WINDOW_SEC, rejectIfRedisNotReady: true, insuranceLimiter: memory })
      : memory;
  }

  /** Throws RESOURCE_EXHAUSTED while `peer` is blocked. */
  check(peer: string): void {
    const until = this.blocked.get(peer);
    if (until === undefined) return;
    const left = until - this.nowMs();
    if (left <= 0) {
      this.blocked.delete(peer);
      return;
    }
    throw tooMany(left);
  }

  /** Counts one failure; throws RESOURCE_EXHAUSTED once the address is over the limit. */
  async failed(peer: string): Promise<void> {
    try {
      await this.limiter.consume(peer);
    } catch (err) {
      if (!(err instanceof RateLimiterRes)) return; // the store failed: do not lock people out
      const left = Math.max(1, Math.ceil(err.msBeforeNext));
      if (this.blocked.size >= MAX_BLOCKED) this.blocked.clear();
      this.blocked.set(peer, this.nowMs() + left);
      throw tooMany(left);
    }
  }
}

function tooMany(retryAfterMs: number): AppError {
  return new AppError("RESOURCE_EXHAUSTED", `too many failed authentications from this address; retry in ${Math.ceil(retryAfterMs / 1000)} s`, {
    reason: "TOO_MANY_AUTH_FAILURES",
    retryAfterMs,
    metadata: { retry_after_ms: String(retryAfterMs) },
  });
}

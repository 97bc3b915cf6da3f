// Layered limits on verification (DESIGN §6), with rate-limiter-flexible: on Redis so every
// replica shares one count, or in memory in the embedded mode (same interface).
//   - per destination: one send per 30 s, five per hour;
//   - per tenant: its send budget per minute (contains SMS pumping);
//   - per customer: ten wrong codes per hour.
// Keys follow cms:{t:<tenant>}:rl:... (one tenant, one Cluster slot) and expire by themselves.
import type { Redis } from "ioredis";
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from "rate-limiter-flexible";
import { AppError } from "../errors.js";
import { RESEND_COOLDOWN_MS, SENDS_PER_CONTACT_PER_HOUR, VERIFY_FAILURES_PER_CUSTOMER_PER_HOUR } from "./policy.js";

type LimiterFactory = (points: number, durationSec: number) => RateLimiterAbstract;

export function redisLimiters(redis: Redis): LimiterFactory {
  return (points, duration) =>
    new RateLimiterRedis({ storeClient: redis, keyPrefix: "cms", points, duration, rejectIfRedisNotReady: true });
}

export function memoryLimiters(): LimiterFactory {
  return (points, duration) => new RateLimiterMemory({ keyPrefix: "cms", points, duration });
}

function exhausted(reason: string, message: string, res: RateLimiterRes): AppError {
  const retryAfterMs = Math.max(1, Math.ceil(res.msBeforeNext));
  return new AppError("RESOURCE_EXHAUSTED", `${message}; retry in ${Math.ceil(retryAfterMs / 1000)} s`, {
    reason,
    retryAfterMs,
    metadata: { retry_after_ms: String(retryAfterMs) },
  });
}

/** Runs a limiter call: a RateLimiterRes rejection is the limit; anything else is the store. */
async function limit(run: () => Promise<unknown>, onLimit: (res: RateLimiterRes) => AppError): Promise<void> {
  try {
    await run();
  } catch (err) {
    if (err instanceof RateLimiterRes) throw onLimit(err);
    throw err;
  }
}

export class VerificationLimits {
  private readonly cooldown: RateLimiterAbstract;
  private readonly hourly: RateLimiterAbstract;
  private readonly failures: RateLimiterAbstract;
  private readonly budgets = new Map<number, RateLimiterAbstract>();

  constructor(private readonly make: LimiterFactory) {
    this.cooldown = make(1, RESEND_COOLDOWN_MS / 1000);
    this.hourly = make(SENDS_PER_CONTACT_PER_HOUR, 3600);
    this.failures = make(VERIFY_FAILURES_PER_CUSTOMER_PER_HOUR, 3600);
  }

  /**
   * Counts one send; throws RESOURCE_EXHAUSTED (with retry time) when a limit is reached. The
   * per-destination limits go first and a refusal gives back the points already taken, so a
   * client hammering one destination cannot spend the tenant's budget for everyone else.
   */
  async beforeSend(tenantId: string, destinationHash: string, budgetPerMinute: number): Promise<void> {
    const t = `{t:${tenantId}}:rl`;
    const cooldownKey = `${t}:cooldown:${destinationHash}`;
    const hourlyKey = `${t}:hourly:${destinationHash}`;
    await limit(
      () => this.cooldown.consume(cooldownKey),
      (r) => exhausted("RESEND_COOLDOWN", "a code was sent to this destination less than 30 s ago", r),
    );
    try {
      await limit(
        () => this.hourly.consume(hourlyKey),
        (r) => exhausted("SEND_LIMIT_EXCEEDED", `at most ${SENDS_PER_CONTACT_PER_HOUR} codes per destination per hour`, r),
      );
    } catch (err) {
      await this.cooldown.reward(cooldownKey, 1);
      throw err;
    }
    try {
      await limit(
        () => this.budget(budgetPerMinute).consume(`${t}:tenant-budget`),
        (r) => exhausted("TENANT_SEND_BUDGET_EXCEEDED", `the tenant's budget of ${budgetPerMinute} codes per minute is used up`, r),
      );
    } catch (err) {
      await this.cooldown.reward(cooldownKey, 1);
      await this.hourly.reward(hourlyKey, 1);
      throw err;
    }
  }

  /** Gives back the points of a send that did not happen (delivery failed), so the caller can
   * retry at once as the error tells it to. */
  async refundSend(tenantId: string, destinationHash: string, budgetPerMinute: number): Promise<void> {
    const t = `{t:${tenantId}}:rl`;
    await Promise.all([
      this.cooldown.reward(`${t}:cooldown:${destinationHash}`, 1),
      this.hourly.reward(`${t}:hourly:${destinationHash}`, 1),
      this.budget(budgetPerMinute).reward(`${t}:tenant-budget`, 1),
    ]);
  }

  /** Throws RESOURCE_EXHAUSTED when the customer made too many wrong guesses this hour. */
  async beforeVerify(tenantId: string, customerId: string): Promise<void> {
    const res = await this.failures.get(`{t:${tenantId}}:rl:verify-failures:${customerId}`);
    if (res !== null && res.consumedPoints >= VERIFY_FAILURES_PER_CUSTOMER_PER_HOUR) {
      throw exhausted("VERIFY_LIMIT_EXCEEDED", `more than ${VERIFY_FAILURES_PER_CUSTOMER_PER_HOUR} wrong codes this hour`, res);
    }
  }

  async recordFailure(tenantId: string, customerId: string): Promise<void> {
    await this.failures.penalty(`{t:${tenantId}}:rl:verify-failures:${customerId}`, 1);
  }

  /** One limiter per budget value, all counting on the same key: a changed budget keeps the count. */
  private budget(points: number): RateLimiterAbstract {
    let l = this.budgets.get(points);
    if (l === undefined) this.budgets.set(points, (l = this.make(points, 60)));
    return l;
  }
}

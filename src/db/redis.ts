// The Redis connection (REDIS_URL). Fails fast while disconnected (no offline queue, one retry)
// so verification can fail closed with UNAVAILABLE instead of hanging; reconnects by itself.
import { Redis } from "ioredis";
import type { Logger } from "../observability/logger.js";

export function createRedis(url: string, logger: Logger): Redis {
  const redis = new Redis(url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 2_000,
    commandTimeout: 2_000,
    retryStrategy: (attempt) => Math.min(attempt * 200, 2_000),
    lazyConnect: true,
  });
  let down = false;
  redis.on("error", (err: Error) => {
    if (!down) logger.warn({ err: err.message }, "redis unreachable: verification answers UNAVAILABLE until it is back");
    down = true;
  });
  redis.on("ready", () => {
    if (down) logger.info("redis reachable again");
    down = false;
  });
  return redis;
}

export async function pingRedis(redis: Redis, timeoutMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      redis.ping(),
      new Promise((_, reject) => (timer = setTimeout(() => reject(new Error("redis ping timed out")), timeoutMs))),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

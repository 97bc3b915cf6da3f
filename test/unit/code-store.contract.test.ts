// The code store contract (src/verification/code.store.ts) and the verification limits
// (rate-limits.ts), each ONE suite run against both implementations: the in-memory twins of the
// embedded mode and the Redis ones. Redis here is this file's own redis-server on a spare port
// (test/support/redis-server.ts), so the Redis half runs even where the run has no Redis.
import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { AppError } from "../../src/errors.js";
import { codeKey, MemoryCodeStore, type CodeKey, type CodeStore, type Reservation, type StoredCode } from "../../src/verification/code.store.js";
import { memoryLimiters, redisLimiters, VerificationLimits } from "../../src/verification/rate-limits.js";
import { RedisCodeStore } from "../../src/verification/redis-code.store.js";
import { startRedisServer, type RedisServer } from "../support/redis-server.js";

let redisServer: RedisServer;
let redis: Redis;

beforeAll(async () => {
  redisServer = await startRedisServer();
  redis = new Redis(redisServer.url, { maxRetriesPerRequest: 1, connectTimeout: 2_000 });
  expect(await redis.ping()).toBe("PONG");
});

afterAll(async () => {
  redis?.disconnect();
  await redisServer?.stop("SIGTERM");
});

// ---------------------------------------------------------------------------------------------
// Code store

interface StoreUnderTest {
  readonly store: CodeStore;
  /** Moves the store's clock forward (only where there is one to move). */
  readonly advance?: (ms: number) => void;
  /** The Redis the store writes to (only for the Redis store). */
  readonly redis?: Redis;
}

const key = (channel: CodeKey["channel"] = "email"): CodeKey => ({ tenantId: randomUUID(), customerId: randomUUID(), channel });

const code = (overrides: Partial<StoredCode> = {}): StoredCode => ({
  hash: "ab".repeat(32),
  destinationHash: "cd".repeat(16),
  nonce: randomUUID(),
  expiresAt: Date.now() + 600_000,
  maxAttempts: 5,
  ...overrides,
});

function reserved(r: Reservation): Extract<Reservation, { kind: "reserved" }> {
  expect(r.kind).toBe("reserved");
  return r as Extract<Reservation, { kind: "reserved" }>;
}

function describeCodeStore(name: string, makeStore: () => StoreUnderTest): void {
  describe(`CodeStore contract: ${name}`, () => {
    it("reserve returns the stored code with attemptsLeft max-1, max-2, ... then burned", async () => {
      const { store } = makeStore();
      const k = key();
      const c = code({ maxAttempts: 3 });
      await store.put(k, c, 60_000);
      const first = reserved(await store.reserve(k));
      expect(first.code).toEqual(c);
      expect(first.attemptsLeft).toBe(2);
      expect(reserved(await store.reserve(k)).attemptsLeft).toBe(1);
      expect(reserved(await store.reserve(k)).attemptsLeft).toBe(0);
      expect(await store.reserve(k)).toEqual({ kind: "burned" });
      expect(await store.reserve(k)).toEqual({ kind: "burned" });
    });

    it("a burned code can still be consumed by the last in-limit reservation, once", async () => {
      const { store } = makeStore();
      const k = key();
      const c = code({ maxAttempts: 3 });
      await store.put(k, c, 60_000);
      for (let i = 0; i < 3; i++) reserved(await store.reserve(k));
      expect((await store.reserve(k)).kind).toBe("burned");
      expect(await store.consume(k, c.nonce)).toBe(true);
      expect(await store.reserve(k)).toEqual({ kind: "none" });
    });

    it("reserve of a key without a code is none (and does not create one)", async () => {
      const { store } = makeStore();
      const k = key();
      expect(await store.reserve(k)).toEqual({ kind: "none" });
      expect(await store.reserve(k)).toEqual({ kind: "none" });
      expect(await store.consume(k, "any-nonce")).toBe(false);
    });

    it("keys are independent: tenant, customer and channel each name a different code", async () => {
      const { store } = makeStore();
      const k = key("email");
      const c = code();
      await store.put(k, c, 60_000);
      expect(await store.reserve({ ...k, channel: "phone" })).toEqual({ kind: "none" });
      expect(await store.reserve({ ...k, tenantId: randomUUID() })).toEqual({ kind: "none" });
      expect(await store.reserve({ ...k, customerId: randomUUID() })).toEqual({ kind: "none" });
      expect(reserved(await store.reserve(k)).attemptsLeft).toBe(4);
    });

    it("consume with the reserved nonce is true once, false after (and the code is gone)", async () => {
      const { store } = makeStore();
      const k = key();
      const c = code();
      await store.put(k, c, 60_000);
      const r = reserved(await store.reserve(k));
      expect(await store.consume(k, r.code.nonce)).toBe(true);
      expect(await store.consume(k, r.code.nonce)).toBe(false);
      expect(await store.reserve(k)).toEqual({ kind: "none" });
    });

    it("consume with a stale nonce (a new put replaced the code) is false and keeps the new code", async () => {
      const { store } = makeStore();
      const k = key();
      const old = code();
      await store.put(k, old, 60_000);
      const r = reserved(await store.reserve(k));
      const fresh = code({ hash: "ef".repeat(32) });
      await store.put(k, fresh, 60_000);
      expect(await store.consume(k, r.code.nonce)).toBe(false);
      const again = reserved(await store.reserve(k));
      expect(again.code).toEqual(fresh);
      expect(await store.consume(k, fresh.nonce)).toBe(true);
    });

    it("put replaces a previous code and resets its attempts (even a burned one)", async () => {
      const { store } = makeStore();
      const k = key();
      await store.put(k, code({ maxAttempts: 3 }), 60_000);
      for (let i = 0; i < 4; i++) await store.reserve(k);
      expect((await store.reserve(k)).kind).toBe("burned");
      const next = code({ maxAttempts: 4, hash: "12".repeat(32) });
      await store.put(k, next, 60_000);
      const r = reserved(await store.reserve(k));
      expect(r.code).toEqual(next);
      expect(r.attemptsLeft).toBe(3);
    });

    it("discard removes the code; discarding a missing one is harmless", async () => {
      const { store } = makeStore();
      const k = key();
      const c = code();
      await store.put(k, c, 60_000);
      await store.discard(k);
      expect(await store.reserve(k)).toEqual({ kind: "none" });
      expect(await store.consume(k, c.nonce)).toBe(false);
      await expect(store.discard(k)).resolves.toBeUndefined();
    });

    it("a code disappears once its ttl has passed", async () => {
      const { store, advance, redis: r } = makeStore();
      const k = key();
      const c = code();
      await store.put(k, c, 50);
      if (advance) {
        advance(49);
        expect(reserved(await store.reserve(k)).attemptsLeft).toBe(4);
        advance(1);
        expect(await store.reserve(k)).toEqual({ kind: "none" });
        expect(await store.consume(k, c.nonce)).toBe(false);
      } else {
        // A real PTTL: poll (bounded) the observable state until the key has expired.
        const pttl = await r!.pttl(codeKey(k));
        expect(pttl).toBeGreaterThan(0);
        expect(pttl).toBeLessThanOrEqual(50);
        await vi.waitFor(async () => expect(await store.reserve(k)).toEqual({ kind: "none" }), { timeout: 3_000, interval: 20 });
        expect(await store.consume(k, c.nonce)).toBe(false);
        expect(await r!.exists(codeKey(k))).toBe(0);
      }
      // The key is usable again afterwards.
      await store.put(k, c, 60_000);
      expect(reserved(await store.reserve(k)).attemptsLeft).toBe(4);
    });

    it("20 concurrent reserve+consume pairs on a code with maxAttempts 5: exactly one consume wins", async () => {
      const { store } = makeStore();
      for (let round = 0; round < 5; round++) {
        const k = key();
        await store.put(k, code({ maxAttempts: 5 }), 60_000);
        const outcomes = await Promise.all(
          Array.from({ length: 20 }, async () => {
            const r = await store.reserve(k);
            if (r.kind !== "reserved") return { kind: r.kind, consumed: false };
            return { kind: r.kind, consumed: await store.consume(k, r.code.nonce) };
          }),
        );
        expect(outcomes.filter((o) => o.kind === "reserved")).toHaveLength(5);
        expect(outcomes.filter((o) => o.kind === "burned").length + outcomes.filter((o) => o.kind === "none").length).toBe(15);
        expect(outcomes.filter((o) => o.consumed)).toHaveLength(1);
        expect(await store.reserve(k)).toEqual({ kind: "none" });
      }
    });
  });
}

describe.each<[string, () => StoreUnderTest]>([
  [
    "MemoryCodeStore",
    () => {
      let now = 1_700_000_000_000;
      return { store: new MemoryCodeStore(() => now), advance: (ms) => (now += ms) };
    },
  ],
  ["RedisCodeStore", () => ({ store: new RedisCodeStore(redis), redis })],
])("%s", (name, makeStore) => describeCodeStore(name, makeStore));

describe("RedisCodeStore specifics", () => {
  it("stores one hash at cms:{t:<tenant>}:code:<customer>:<channel> with a PTTL", async () => {
    const store = new RedisCodeStore(redis);
    const k = key("phone");
    const c = code();
    await store.put(k, c, 120_000);
    const name = `cms:{t:${k.tenantId}}:code:${k.customerId}:phone`;
    expect(codeKey(k)).toBe(name);
    expect(await redis.type(name)).toBe("hash");
    const pttl = await redis.pttl(name);
    expect(pttl).toBeGreaterThan(0);
    expect(pttl).toBeLessThanOrEqual(120_000);
    expect(await redis.hget(name, "n")).toBe(c.nonce);
    // The code itself is never stored, only its hash.
    expect(Object.values(await redis.hgetall(name))).toContain(c.hash);
  });

  it("a second RedisCodeStore on the same client shares the scripts and the data", async () => {
    const a = new RedisCodeStore(redis);
    const b = new RedisCodeStore(redis);
    const k = key();
    const c = code();
    await a.put(k, c, 60_000);
    expect(reserved(await b.reserve(k)).code).toEqual(c);
    expect(await b.consume(k, c.nonce)).toBe(true);
    expect(await a.reserve(k)).toEqual({ kind: "none" });
  });
});

// ---------------------------------------------------------------------------------------------
// Verification limits

async function appError(p: Promise<unknown>): Promise<AppError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(AppError);
    return err as AppError;
  }
  throw new Error("expected an AppError, but the call succeeded");
}

interface LimitsUnderTest {
  readonly limits: VerificationLimits;
  readonly redis?: Redis;
}

function describeLimits(name: string, makeLimits: () => LimitsUnderTest): void {
  describe(`VerificationLimits: ${name}`, () => {
    it("a second send to one destination within 30 s is RESEND_COOLDOWN with a retry time", async () => {
      const { limits } = makeLimits();
      const tenant = randomUUID();
      await limits.beforeSend(tenant, "dest-a", 600);
      const err = await appError(limits.beforeSend(tenant, "dest-a", 600));
      expect(err.code).toBe("RESOURCE_EXHAUSTED");
      expect(err.reason).toBe("RESEND_COOLDOWN");
      expect(err.retryAfterMs).toBeGreaterThan(0);
      expect(err.retryAfterMs).toBeLessThanOrEqual(30_000);
      expect(err.metadata.retry_after_ms).toBe(String(err.retryAfterMs));
    });

    it("destinations and tenants are independent", async () => {
      const { limits } = makeLimits();
      const tenant = randomUUID();
      await limits.beforeSend(tenant, "dest-a", 600);
      await expect(limits.beforeSend(tenant, "dest-b", 600)).resolves.toBeUndefined();
      await expect(limits.beforeSend(randomUUID(), "dest-a", 600)).resolves.toBeUndefined();
      expect((await appError(limits.beforeSend(tenant, "dest-b", 600))).reason).toBe("RESEND_COOLDOWN");
    });

    it("a tenant budget of 2 per minute: the third send, to yet another destination, is TENANT_SEND_BUDGET_EXCEEDED", async () => {
      const { limits } = makeLimits();
      const tenant = randomUUID();
      await limits.beforeSend(tenant, "dest-1", 2);
      await limits.beforeSend(tenant, "dest-2", 2);
      const err = await appError(limits.beforeSend(tenant, "dest-3", 2));
      expect(err.code).toBe("RESOURCE_EXHAUSTED");
      expect(err.reason).toBe("TENANT_SEND_BUDGET_EXCEEDED");
      expect(err.retryAfterMs).toBeGreaterThan(0);
      expect(err.retryAfterMs).toBeLessThanOrEqual(60_000);
      // Another tenant has its own budget.
      await expect(limits.beforeSend(randomUUID(), "dest-3", 2)).resolves.toBeUndefined();
    });

    it("10 wrong codes for a customer: the next verify is VERIFY_LIMIT_EXCEEDED; other customers unaffected", async () => {
      const { limits } = makeLimits();
      const tenant = randomUUID();
      const customer = randomUUID();
      await limits.beforeVerify(tenant, customer);
      for (let i = 0; i < 9; i++) await limits.recordFailure(tenant, customer);
      await expect(limits.beforeVerify(tenant, customer)).resolves.toBeUndefined();
      await limits.recordFailure(tenant, customer);
      const err = await appError(limits.beforeVerify(tenant, customer));
      expect(err.code).toBe("RESOURCE_EXHAUSTED");
      expect(err.reason).toBe("VERIFY_LIMIT_EXCEEDED");
      expect(err.retryAfterMs).toBeGreaterThan(0);
      expect(err.retryAfterMs).toBeLessThanOrEqual(3_600_000);
      await expect(limits.beforeVerify(tenant, randomUUID())).resolves.toBeUndefined();
      await expect(limits.beforeVerify(randomUUID(), customer)).resolves.toBeUndefined();
    });

    if (name === "redis") {
      it("every key written is cms:{t:<tenant>}:rl:* and has a TTL", async () => {
        const { limits, redis: r } = makeLimits();
        const tenant = randomUUID();
        await limits.beforeSend(tenant, "dest-a", 600);
        await limits.beforeSend(tenant, "dest-b", 2);
        await limits.recordFailure(tenant, randomUUID());
        const keys: string[] = [];
        let cursor = "0";
        for (let i = 0; i < 1_000; i++) {
          const [next, batch] = await r!.scan(cursor, "MATCH", `*${tenant}*`, "COUNT", 1_000);
          keys.push(...batch);
          cursor = next;
          if (cursor === "0") break;
        }
        // cooldown + hourly for two destinations, ONE tenant budget key (the count survives a
        // change of the budget value), one failure counter.
        expect(keys.length).toBe(6);
        for (const k of keys) {
          expect(k.startsWith(`cms:{t:${tenant}}:rl:`), k).toBe(true);
          const pttl = await r!.pttl(k);
          expect(pttl, k).toBeGreaterThan(0);
          expect(pttl, k).toBeLessThanOrEqual(3_600_000);
        }
      });
    }
  });
}

describe.each<[string, () => LimitsUnderTest]>([
  ["memory", () => ({ limits: new VerificationLimits(memoryLimiters()) })],
  ["redis", () => ({ limits: new VerificationLimits(redisLimiters(redis)), redis })],
])("%s", (name, makeLimits) => describeLimits(name, makeLimits));

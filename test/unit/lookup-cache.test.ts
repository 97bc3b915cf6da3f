import { describe, expect, it } from "vitest";
import { LookupCache, type Lookup } from "../../src/tenants/lookup-cache.js";

/** A load the test settles by hand, counting its calls. */
function manualLoad<T>() {
  const pending: Array<{ resolve: (l: Lookup<T>) => void; reject: (e: Error) => void }> = [];
  const load = () => new Promise<Lookup<T>>((resolve, reject) => pending.push({ resolve, reject }));
  return { load, pending };
}

function cache(clock: { t: number }, errors: Error[] = []) {
  return new LookupCache<string>({ ttlMs: 2_000, refreshAfterMs: 1_000, max: 3, now: () => clock.t, onRefreshError: (e) => errors.push(e) });
}

/** Puts `found` in the cache through a first lookup of `key` (pending[0]). */
async function fill<T>(c: LookupCache<T>, key: string, load: () => Promise<Lookup<T>>, pending: Array<{ resolve: (l: Lookup<T>) => void }>, found: Lookup<T>) {
  const first = c.get(key, load);
  pending[0]!.resolve(found);
  await first;
}

const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Once the refresh (pending[1]) settled: nothing of "k" is cached, and the next call asks the
 * database again (pending[2]) and gets what it says now. */
async function expectAskedAgain(c: LookupCache<string>, load: () => Promise<Lookup<string>>, pending: Array<{ resolve: (l: Lookup<string>) => void }>) {
  await flush();
  expect(c.size).toBe(0);
  const next = c.get("k", load);
  expect(pending).toHaveLength(3);
  pending[2]!.resolve({ result: "revoked" });
  expect(await next).toBe("revoked");
}

describe("LookupCache (tenants/lookup-cache.ts)", () => {
  it("calls that miss together share one lookup", async () => {
    const clock = { t: 0 };
    const c = cache(clock);
    const { load, pending } = manualLoad<string>();
    const calls = Array.from({ length: 32 }, () => c.get("k", load));
    expect(pending).toHaveLength(1);
    pending[0]!.resolve({ result: "v1", cacheUntil: Infinity });
    expect(await Promise.all(calls)).toEqual(Array(32).fill("v1"));
    expect(await c.get("k", load)).toBe("v1");
    expect(pending).toHaveLength(1);
  });

  it("past refreshAfterMs a hit answers at once and starts ONE background lookup; its result serves the next calls", async () => {
    const clock = { t: 0 };
    const c = cache(clock);
    const { load, pending } = manualLoad<string>();
    await fill(c, "k", load, pending, { result: "v1", cacheUntil: Infinity });
    clock.t = 999;
    expect(await c.get("k", load)).toBe("v1");
    expect(pending).toHaveLength(1); // still fresh: no lookup
    clock.t = 1_000;
    expect(await Promise.all([c.get("k", load), c.get("k", load), c.get("k", load)])).toEqual(["v1", "v1", "v1"]);
    expect(pending).toHaveLength(2); // one refresh, not three
    pending[1]!.resolve({ result: "v2", cacheUntil: Infinity });
    await flush();
    expect(await c.get("k", load)).toBe("v2");
    expect(pending).toHaveLength(2);
  });

  it("is never served past its expiry: a failed refresh is reported and the entry kept only until then", async () => {
    const clock = { t: 0 };
    const errors: Error[] = [];
    const c = cache(clock, errors);
    const { load, pending } = manualLoad<string>();
    await fill(c, "k", load, pending, { result: "v1", cacheUntil: Infinity });
    clock.t = 1_500;
    expect(await c.get("k", load)).toBe("v1");
    pending[1]!.reject(new Error("database down"));
    await flush();
    expect(errors.map((e) => e.message)).toEqual(["database down"]);
    expect(await c.get("k", load)).toBe("v1"); // still within the TTL (and a new refresh starts)
    expect(pending).toHaveLength(3);
    clock.t = 2_000; // expired: callers wait for the lookup running, and share its failure
    const a = c.get("k", load);
    const b = c.get("k", load);
    expect(pending).toHaveLength(3);
    pending[2]!.reject(new Error("still down"));
    await expect(a).rejects.toThrow("still down");
    await expect(b).rejects.toThrow("still down");
    expect(errors.map((e) => e.message)).toEqual(["database down", "still down"]); // both were refreshes
    const c2 = c.get("k", load); // and the expired entry is not served: a new lookup
    expect(pending).toHaveLength(4);
    pending[3]!.resolve({ result: "v2", cacheUntil: Infinity });
    expect(await c2).toBe("v2");
  });

  it("a lookup without cacheUntil (revoked, not found) is not cached and drops the entry it refreshes", async () => {
    const clock = { t: 0 };
    const c = cache(clock);
    const { load, pending } = manualLoad<string>();
    await fill(c, "k", load, pending, { result: "ok", cacheUntil: Infinity });
    clock.t = 1_200;
    await c.get("k", load);
    pending[1]!.resolve({ result: "revoked" });
    await expectAskedAgain(c, load, pending);
  });

  it("cacheUntil shortens the TTL (a key that expires sooner)", async () => {
    const clock = { t: 0 };
    const c = cache(clock);
    const { load, pending } = manualLoad<string>();
    await fill(c, "k", load, pending, { result: "v1", cacheUntil: 500 });
    clock.t = 499;
    expect(await c.get("k", load)).toBe("v1");
    clock.t = 500;
    void c.get("k", load);
    expect(pending).toHaveLength(2);
  });

  it("ownLoad serves a caller's miss without waiting for a shared lookup, and still fills the cache", async () => {
    const clock = { t: 0 };
    const c = cache(clock);
    const shared = manualLoad<string>();
    const own = manualLoad<string>();
    const waiting = c.get("k", shared.load); // never settled in this test
    const mine = c.get("k", shared.load, own.load);
    expect(own.pending).toHaveLength(1);
    own.pending[0]!.resolve({ result: "from my transaction", cacheUntil: Infinity });
    expect(await mine).toBe("from my transaction");
    expect(await c.get("k", shared.load)).toBe("from my transaction");
    expect(shared.pending).toHaveLength(1);
    void waiting;
  });

  it("delete() also discards what a lookup already running finds (a revocation is not undone by an earlier refresh)", async () => {
    const clock = { t: 0 };
    const c = cache(clock);
    const { load, pending } = manualLoad<string>();
    await fill(c, "k", load, pending, { result: "valid", cacheUntil: Infinity });
    clock.t = 1_500;
    expect(await c.get("k", load)).toBe("valid"); // starts a refresh
    c.delete("k"); // the key is revoked while the refresh reads
    pending[1]!.resolve({ result: "valid (read before the revocation)", cacheUntil: Infinity });
    await expectAskedAgain(c, load, pending);
  });

  it("starts over beyond max entries (bounded memory against random keys)", async () => {
    const clock = { t: 0 };
    const c = cache(clock);
    for (const k of ["a", "b", "c", "d"]) await c.get(k, async () => ({ result: k, cacheUntil: Infinity }));
    expect(c.size).toBe(1);
  });
});

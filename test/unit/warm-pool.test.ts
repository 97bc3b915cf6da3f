// db/warm-pool.ts's rules, against a stand-in for knex's client and tarn's events (the real pool:
// test/api/warm-pool.test.ts).
import { afterEach, describe, expect, it, vi } from "vitest";
import { IDLE_MS, WarmPool, type KnexPoolClient, type PoolConnection } from "../../src/db/warm-pool.js";

interface Conn extends PoolConnection {
  readonly n: number;
}

/** A WarmPool over a stand-in for knex's client and tarn: what it acquired and released. */
function fakeWarmPool() {
  const listeners = new Map<string, Array<() => void>>();
  let next = 0;
  const state = { pending: 0, acquired: 0, released: [] as number[] };
  const client: KnexPoolClient<Conn> = {
    acquireConnection: async () => {
      state.acquired++;
      for (const l of listeners.get("acquireRequest") ?? []) l();
      return { n: next++ };
    },
    releaseConnection: async (c) => {
      state.released.push(c.n);
    },
    pool: {
      numPendingAcquires: () => state.pending,
      on: (event, listener) => listeners.set(event, [...(listeners.get(event) ?? []), listener]),
    },
  };
  const emit = (event: string) => listeners.get(event)?.forEach((l) => l());
  return { warm: new WarmPool(() => client), state, emit };
}

afterEach(() => {
  vi.useRealTimers();
});

describe("WarmPool", () => {
  it("keeps what is released healthy and hands it out again, last in first out, before asking the pool", async () => {
    const { warm, state } = fakeWarmPool();
    const a = await warm.acquire();
    const b = await warm.acquire();
    warm.release(a, true);
    warm.release(b, true);
    expect(warm.size).toBe(2);
    expect(await warm.acquire()).toBe(b);
    expect(await warm.acquire()).toBe(a);
    expect(state.acquired).toBe(2);
    expect(state.released).toEqual([]);
    warm.close();
  });

  it("returns to the pool: a connection whose work failed, and any while callers wait for the pool", async () => {
    const { warm, state } = fakeWarmPool();
    const a = await warm.acquire();
    warm.release(a, false);
    const b = await warm.acquire();
    state.pending = 1;
    warm.release(b, true);
    expect(state.released).toEqual([a.n, b.n]);
    expect(warm.size).toBe(0);
    warm.close();
  });

  it("skips (and returns) a kept connection that was marked disposed", async () => {
    const { warm, state } = fakeWarmPool();
    const a = await warm.acquire();
    warm.release(a, true);
    a.__knex__disposed = new Error("Connection terminated");
    const b = await warm.acquire();
    expect(b).not.toBe(a);
    expect(state.released).toEqual([a.n]);
    warm.close();
  });

  it("gives every kept connection back when anyone else asks the pool, and keeps none once the pool is destroyed", async () => {
    const { warm, state, emit } = fakeWarmPool();
    const [a, b] = [await warm.acquire(), await warm.acquire()];
    warm.release(a, true);
    warm.release(b, true);
    emit("acquireRequest");
    expect(state.released.sort()).toEqual([a.n, b.n].sort());
    expect(warm.size).toBe(0);
    const c = await warm.acquire();
    warm.release(c, true);
    emit("poolDestroyRequest");
    expect(state.released).toContain(c.n);
    const d = await warm.acquire();
    warm.release(d, true);
    expect(warm.size).toBe(0);
    expect(state.released).toContain(d.n);
  });

  it("gives the kept connections back once no statement was made for a whole idle period", async () => {
    vi.useFakeTimers();
    const { warm, state } = fakeWarmPool();
    const a = await warm.acquire();
    warm.release(a, true);
    // In use: every period sees a statement, nothing is given back.
    for (let i = 0; i < 3; i++) {
      vi.advanceTimersByTime(IDLE_MS);
      warm.release(await warm.acquire(), true);
    }
    expect(warm.size).toBe(1);
    vi.advanceTimersByTime(IDLE_MS); // the period with the last statement
    expect(warm.size).toBe(1);
    vi.advanceTimersByTime(IDLE_MS); // a whole period without one
    expect(warm.size).toBe(0);
    expect(state.released).toEqual([a.n]);
    warm.close();
  });
});

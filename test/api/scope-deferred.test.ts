// db/scope.ts deferUntilCommit: statements deferred to the commit run in the order deferred,
// except the `locking` ones (the event append, which locks the tenant's sequence row), which run
// after every other, right before the commit. Observed through which deferred statement fails
// first: the first to run aborts the transaction with its own error. Locking statements are sent
// by at most LOCK_GATE_PERMITS transactions of a key at a time (observed through pg_locks).
import { randomUUID } from "node:crypto";
import type { MikroORM } from "@mikro-orm/postgresql";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, it, vi } from "vitest";
import { openOrm } from "../../src/db/orm.js";
import { createScopes, deferUntilCommit, flushDeferred, type Scopes } from "../../src/db/scope.js";

const DIVISION = "select 1 / 0"; // 22012
const BAD_INT = "select 'x'::int"; // 22P02
const LOCK_KEY = "tenant-a";

let orm: MikroORM;
let scopes: Scopes;

beforeAll(async () => {
  orm = await openOrm(inject("serviceDatabaseUrl"), 2);
  scopes = createScopes(orm);
});

afterAll(async () => {
  await orm?.close(true);
});

async function failure(defer: (em: Parameters<Parameters<ReturnType<Scopes["tenant"]>>[0]>[0]) => Promise<void> | void): Promise<string | undefined> {
  try {
    await scopes.tenant(randomUUID())(async (em) => {
      await defer(em);
    });
    return undefined;
  } catch (err) {
    const e = err as { code?: string; sqlState?: string };
    return e.sqlState ?? e.code;
  }
}

describe("deferUntilCommit", () => {
  it("runs deferred statements in the order deferred", async () => {
    expect(await failure((em) => (deferUntilCommit(em, DIVISION), deferUntilCommit(em, BAD_INT)))).toBe("22012");
    expect(await failure((em) => (deferUntilCommit(em, BAD_INT), deferUntilCommit(em, DIVISION)))).toBe("22P02");
  });

  it("runs a locking statement after every other one, whenever it was deferred", async () => {
    expect(await failure((em) => (deferUntilCommit(em, DIVISION, LOCK_KEY), deferUntilCommit(em, BAD_INT)))).toBe("22P02");
    expect(await failure((em) => (deferUntilCommit(em, BAD_INT, LOCK_KEY), deferUntilCommit(em, DIVISION)))).toBe("22012");
  });

  it("flushDeferred sends them in the same order, and nothing is left for the commit", async () => {
    expect(
      await failure(async (em) => {
        deferUntilCommit(em, DIVISION, LOCK_KEY);
        deferUntilCommit(em, BAD_INT);
        await flushDeferred(em);
      }),
    ).toBe("22P02");
    await expect(
      scopes.tenant(randomUUID())(async (em) => {
        deferUntilCommit(em, "select 1", LOCK_KEY);
        deferUntilCommit(em, "select 2");
        await flushDeferred(em);
        return "committed";
      }),
    ).resolves.toBe("committed");
  });

  it("leaves no transaction admitted behind, failed or committed", () => {
    expect(scopes.lockGates()).toEqual({ keys: 0, admitted: 0, waiting: 0 });
  });

  it("keeps a transaction that flushed its locking statement admitted until it ends, entering once per key", async () => {
    await expect(
      scopes.tenant(randomUUID())(async (em) => {
        deferUntilCommit(em, "select 1", LOCK_KEY);
        await flushDeferred(em);
        expect(scopes.lockGates()).toEqual({ keys: 1, admitted: 1, waiting: 0 });
        deferUntilCommit(em, "select 2", LOCK_KEY); // the same key again: no second place taken
        deferUntilCommit(em, "select 3", "tenant-b");
        await flushDeferred(em);
        expect(scopes.lockGates()).toEqual({ keys: 2, admitted: 2, waiting: 0 });
        return "committed";
      }),
    ).resolves.toBe("committed");
    expect(scopes.lockGates()).toEqual({ keys: 0, admitted: 0, waiting: 0 });
  });

  it("lets two transactions of a key send their locking statements at a time; the next waits for its turn", async () => {
    const url = inject("serviceDatabaseUrl");
    const orm4 = await openOrm(url, 4);
    const scopes4 = createScopes(orm4);
    const holder = new pg.Client({ connectionString: url });
    await holder.connect();
    const lock = 700_000_000 + Math.floor(Math.random() * 1_000_000);
    const waitingOnLock = async () =>
      Number((await holder.query("select count(*) as n from pg_locks where locktype = 'advisory' and objid = $1 and not granted", [lock])).rows[0].n);
    try {
      await holder.query("select pg_advisory_lock($1)", [lock]);
      const tenant = randomUUID();
      const done: number[] = [];
      const run = (i: number) =>
        scopes4
          .tenant(tenant)(async (em) => {
            deferUntilCommit(em, `select pg_advisory_xact_lock(${lock})`, tenant);
            return i;
          })
          .then((n) => done.push(n));
      const runs = [run(1), run(2), run(3)];
      await vi.waitFor(() => expect(scopes4.lockGates()).toEqual({ keys: 1, admitted: 2, waiting: 1 }), { timeout: 10_000, interval: 20 });
      // The two admitted sent theirs and wait on the lock in PostgreSQL; the third did not send it.
      await vi.waitFor(async () => expect(await waitingOnLock()).toBe(2), { timeout: 10_000, interval: 20 });
      expect(done).toEqual([]);
      await holder.query("select pg_advisory_unlock($1)", [lock]);
      await Promise.all(runs);
      expect(done.sort()).toEqual([1, 2, 3]);
      expect(scopes4.lockGates()).toEqual({ keys: 0, admitted: 0, waiting: 0 });
    } finally {
      await holder.end();
      await orm4.close(true);
    }
  });

  it("outside a Scopes transaction it refuses", () => {
    expect(() => deferUntilCommit(orm.em.fork(), "select 1")).toThrow(/not inside a Scopes transaction/);
  });
});

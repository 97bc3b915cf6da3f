// db/scope.ts deferUntilCommit: statements deferred to the commit run in the order deferred
// (observed through which deferred statement fails first: the first to run aborts the transaction
// with its own error); afterCommit: follow-ups run once per key after the commit, before the
// transaction's promise resolves, and never after a rollback.
import { randomUUID } from "node:crypto";
import type { MikroORM } from "@mikro-orm/postgresql";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { openOrm } from "../../src/db/orm.js";
import { afterCommit, createScopes, deferUntilCommit, flushDeferred, type Scopes } from "../../src/db/scope.js";

const DIVISION = "select 1 / 0"; // 22012
const BAD_INT = "select 'x'::int"; // 22P02

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

  it("flushDeferred sends them in the same order, and nothing is left for the commit", async () => {
    expect(
      await failure(async (em) => {
        deferUntilCommit(em, DIVISION);
        deferUntilCommit(em, BAD_INT);
        await flushDeferred(em);
      }),
    ).toBe("22012");
    // A failed statement aborts the transaction: swallowing its error does not make it commit
    // (PostgreSQL answers that `commit` with ROLLBACK, not an error: scope.ts checks).
    await expect(
      scopes.tenant(randomUUID())(async (em) => {
        deferUntilCommit(em, DIVISION);
        await flushDeferred(em).catch(() => undefined);
        return "flushed";
      }),
    ).rejects.toThrow("the transaction was rolled back at commit");
    await expect(
      scopes.tenant(randomUUID())(async (em) => {
        deferUntilCommit(em, "select 1");
        deferUntilCommit(em, "select 2");
        await flushDeferred(em);
        deferUntilCommit(em, "select 3");
        return "committed";
      }),
    ).resolves.toBe("committed");
  });

  it("outside a Scopes transaction it refuses", () => {
    expect(() => deferUntilCommit(orm.em.fork(), "select 1")).toThrow(/not inside a Scopes transaction/);
    expect(() => afterCommit(orm.em.fork(), "k", async () => undefined)).toThrow(/not inside a Scopes transaction/);
  });
});

describe("afterCommit", () => {
  const counter = (tenant: string) =>
    scopes.tenant(tenant)(async (em) => {
      const [row] = await em.execute<Array<{ last_seq: string }>>("select last_seq from tenant_event_sequences where tenant_id = ?", [tenant]);
      return row === undefined ? undefined : Number(row.last_seq);
    });

  it("runs after the commit (another connection sees the write), before the transaction's promise resolves, once per key", async () => {
    const tenant = randomUUID();
    const seen: Array<string> = [];
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let aRan!: () => void;
    const aRunning = new Promise<void>((resolve) => (aRan = resolve));
    const committed = scopes.tenant(tenant)(async (em) => {
      await em.execute("insert into tenant_event_sequences (tenant_id, last_seq) values (?, 7)", [tenant]);
      afterCommit(em, "a", async () => void seen.push("a replaced"));
      afterCommit(em, "a", async () => {
        seen.push(`a sees ${await counter(tenant)}`);
        aRan();
        await gate;
      });
      afterCommit(em, "b", async () => void seen.push("b"));
      expect(seen).toEqual([]); // nothing before the commit
      return "done";
    });
    let resolved = false;
    void committed.then(() => (resolved = true));
    await aRunning;
    expect([...seen].sort()).toEqual(["a sees 7", "b"]);
    expect(resolved).toBe(false); // still waiting for "a"
    release();
    await expect(committed).resolves.toBe("done");
  });

  it("never runs after a rollback", async () => {
    const tenant = randomUUID();
    let ran = false;
    await expect(
      scopes.tenant(tenant)(async (em) => {
        await em.execute("insert into tenant_event_sequences (tenant_id, last_seq) values (?, 7)", [tenant]);
        afterCommit(em, "a", async () => void (ran = true));
        throw new Error("work failed");
      }),
    ).rejects.toThrow("work failed");
    expect(await failure((em) => (afterCommit(em, "a", async () => void (ran = true)), deferUntilCommit(em, DIVISION)))).toBe("22012");
    expect(ran).toBe(false);
    expect(await counter(tenant)).toBeUndefined();
  });
});

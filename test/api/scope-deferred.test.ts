// db/scope.ts deferUntilCommit: statements deferred to the commit run in the order deferred,
// except the `locking` ones (the event append, which locks the tenant's sequence row), which run
// after every other, right before the commit. Observed through which deferred statement fails
// first: the first to run aborts the transaction with its own error.
import { randomUUID } from "node:crypto";
import type { MikroORM } from "@mikro-orm/postgresql";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { openOrm } from "../../src/db/orm.js";
import { createScopes, deferUntilCommit, flushDeferred, type Scopes } from "../../src/db/scope.js";

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

  it("runs a locking statement after every other one, whenever it was deferred", async () => {
    expect(await failure((em) => (deferUntilCommit(em, DIVISION, true), deferUntilCommit(em, BAD_INT)))).toBe("22P02");
    expect(await failure((em) => (deferUntilCommit(em, BAD_INT, true), deferUntilCommit(em, DIVISION)))).toBe("22012");
  });

  it("flushDeferred sends them in the same order, and nothing is left for the commit", async () => {
    expect(
      await failure(async (em) => {
        deferUntilCommit(em, DIVISION, true);
        deferUntilCommit(em, BAD_INT);
        await flushDeferred(em);
      }),
    ).toBe("22P02");
    await expect(
      scopes.tenant(randomUUID())(async (em) => {
        deferUntilCommit(em, "select 1", true);
        deferUntilCommit(em, "select 2");
        await flushDeferred(em);
        return "committed";
      }),
    ).resolves.toBe("committed");
  });

  it("outside a Scopes transaction it refuses", () => {
    expect(() => deferUntilCommit(orm.em.fork(), "select 1")).toThrow(/not inside a Scopes transaction/);
  });
});

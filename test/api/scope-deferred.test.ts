// db/scope.ts deferUntilCommit: statements deferred to the commit run in the order deferred
// (observed through which deferred statement fails first: the first to run aborts the transaction
// with its own error); afterCommit: follow-ups run once per key after the commit, before the
// transaction's promise resolves, and never after a rollback. The deferred begin: a transaction's
// first db/sql.ts statement goes with its begin in one round trip (counted on pg's client), as
// text that gives the same results as the prepared statement.
import { randomUUID } from "node:crypto";
import type { EntityManager, MikroORM } from "@mikro-orm/postgresql";
import fc from "fast-check";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { openOrm } from "../../src/db/orm.js";
import { UniqueConstraintViolationException } from "@mikro-orm/core";
import { afterCommit, createScopes, deferGuardedUntilCommit, deferUntilCommit, flushDeferred, sendWithBegin, type Scopes } from "../../src/db/scope.js";
import { sqlOf, statement } from "../../src/db/sql.js";

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

describe("the begin goes with the first statement", () => {
  const SCOPE = statement("test_scope_first", "select current_setting($1, true) as tenant, now() as t, txid_current()::text as x");
  const VALUES = statement("test_scope_values", "select $1::text as s, $2::int as i, $3::boolean as b, $4::timestamptz as d, $5::bytea as y, $6::text as n, $7::text[] as a");
  const DIVIDE = statement("test_scope_divide", "select 1 / $1::int as q");

  /** The queries pg's clients are asked to run while `f` runs. */
  async function queries<T>(f: () => Promise<T>): Promise<{ result: T; sent: string[] }> {
    const sent: string[] = [];
    const original = pg.Client.prototype.query;
    pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
      const q = args[0] as string | { text: string };
      sent.push(typeof q === "string" ? q : q.text);
      return (original as (...a: unknown[]) => unknown).apply(this, args);
    } as typeof original;
    try {
      return { result: await f(), sent };
    } finally {
      pg.Client.prototype.query = original;
    }
  }

  it("one round trip for begin and statement, in the tenant's scope and the same transaction as what follows", async () => {
    const tenant = randomUUID();
    const { result, sent } = await queries(() =>
      scopes.tenant(tenant)(async (em) => {
        const first = await sqlOf(em).rows<{ tenant: string; t: Date; x: string }>(SCOPE, ["app.tenant_id"]);
        const again = await sqlOf(em).rows<{ tenant: string; t: Date; x: string }>(SCOPE, ["app.tenant_id"]);
        const [orm] = await em.execute<Array<{ x: string }>>("select txid_current()::text as x");
        return { first: first[0]!, again: again[0]!, orm: orm! };
      }),
    );
    expect(result.first.tenant).toBe(tenant);
    expect(result.again).toEqual(result.first); // one transaction: same start time, same id
    expect(result.orm.x).toBe(result.first.x);
    expect(sent).toHaveLength(4);
    expect(sent[0]).toMatch(/^begin; select set_config\('app\.tenant_id', '[0-9a-f-]{36}', true\);\nselect current_setting\('app\.tenant_id', true\)/);
    expect(sent.slice(1)).toEqual([SCOPE.text, "select txid_current()::text as x", "commit"]);
  });

  it("work that sends nothing costs no round trip; deferred statements alone go with begin and commit", async () => {
    expect((await queries(() => scopes.tenant(randomUUID())(async () => "nothing"))).sent).toEqual([]);
    const { sent } = await queries(() => scopes.tenant(randomUUID())(async (em) => void deferUntilCommit(em, "select 1")));
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatch(/^begin; select set_config\(.*\);\nselect 1;\ncommit$/s);
  });

  it("the first statement as text answers exactly what the prepared statement answers", async () => {
    const both = (values: unknown[]) =>
      scopes.tenant(randomUUID())(async (em: EntityManager) => {
        const text = await sqlOf(em).rows(VALUES, values);
        const prepared = await sqlOf(em).rows(VALUES, values);
        return { text, prepared };
      });
    const noNul = (s: string) => !s.includes("\u0000");
    await fc.assert(
      fc.asyncProperty(
        fc.string({ unit: "binary", maxLength: 40 }).filter(noNul),
        fc.integer(),
        fc.boolean(),
        fc.date({ min: new Date("1900-01-01T00:00:00Z"), max: new Date("2200-01-01T00:00:00Z"), noInvalidDate: true }),
        fc.uint8Array({ maxLength: 40 }),
        async (s, i, b, d, y) => {
          const { text, prepared } = await both([s, i, b, d, Buffer.from(y), null, null]);
          expect(text).toEqual(prepared);
          expect(text[0]).toMatchObject({ s, i, b, y: Buffer.from(y), n: null });
          // Timestamps come back as text (MikroORM's type parsers), the same instant.
          expect(new Date((text[0] as { d: string }).d)).toEqual(d);
        },
      ),
      { numRuns: 60, seed: 20261207 },
    );
    // A value it does not render (an array) waits for a begin of its own, then goes prepared.
    const { result, sent } = await queries(() => both(["'\\", 1, true, new Date(0), Buffer.alloc(0), null, ["a", "b'c"]]));
    expect(result.text).toEqual(result.prepared);
    expect(result.text[0]).toMatchObject({ s: "'\\", a: ["a", "b'c"] });
    expect(sent.map((q) => q.split(";")[0])).toEqual(["begin", VALUES.text, VALUES.text, "commit"]);
  });

  it("a failing first statement: its own error, rolled back, the connections fit for the next transactions", async () => {
    const divide = (by: number) => scopes.tenant(randomUUID())(async (em) => (await sqlOf(em).rows<{ q: number }>(DIVIDE, [by]))[0]!.q);
    await expect(divide(0)).rejects.toMatchObject({ code: "22012", message: expect.stringContaining("division by zero") });
    // The pool has two connections: a transaction left open on one would fail the next ones.
    for (let i = 0; i < 4; i++) await expect(divide(1)).resolves.toBe(1);
  });

  describe("sendWithBegin", () => {
    const LAST = statement("test_scope_last_seq", "select last_seq::int as n from tenant_event_sequences where tenant_id = $1");
    const claim = (tenant: string) => `insert into tenant_event_sequences (tenant_id, last_seq) values ('${tenant}', 7)`;
    const taken = async () => {
      const tenant = randomUUID();
      await scopes.tenant(tenant)(async (em) => void sendWithBegin(em, claim(tenant)));
      return tenant;
    };

    it("runs before the work's first statement, in its round trip; refused once something was sent", async () => {
      const tenant = randomUUID();
      const { result, sent } = await queries(() =>
        scopes.tenant(tenant)(async (em) => {
          sendWithBegin(em, claim(tenant));
          const rows = await sqlOf(em).rows<{ n: number }>(LAST, [tenant]);
          expect(() => sendWithBegin(em, "select 1")).toThrow(/already sent a statement/);
          return rows;
        }),
      );
      expect(result).toEqual([{ n: 7 }]);
      expect(sent).toHaveLength(2);
      expect(sent[0]).toContain(`${claim(tenant)};\nselect last_seq::int as n from tenant_event_sequences where tenant_id = '${tenant}'`);
      expect(() => sendWithBegin(orm.em.fork(), "select 1")).toThrow(/not inside a Scopes transaction/);
    });

    it("its failure is that of whatever carries it: the first statement, MikroORM's first query or the commit", async () => {
      const tenant = await taken();
      const carriers: Array<[string, (em: EntityManager) => Promise<unknown>]> = [
        ["sql.ts statement", (em) => sqlOf(em).rows(LAST, [tenant])],
        ["MikroORM query", (em) => em.execute("select 1")],
        ["commit", async (em) => deferUntilCommit(em, "select 1")],
        ["commit alone", async () => undefined],
      ];
      for (const [name, carry] of carriers) {
        const err = await scopes.tenant(tenant)(async (em) => {
          sendWithBegin(em, claim(tenant));
          await carry(em);
        }).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect({ name, type: err?.constructor.name, constraint: (err as { constraint?: string }).constraint }).toEqual({
          name,
          type: UniqueConstraintViolationException.name,
          constraint: "tenant_event_sequences_pkey",
        });
        expect(err).toBeInstanceOf(UniqueConstraintViolationException);
      }
      // Rolled back each time: the pool's two connections still work.
      for (let i = 0; i < 4; i++) await expect(scopes.tenant(tenant)((em) => sqlOf(em).rows(LAST, [tenant]))).resolves.toEqual([{ n: 7 }]);
    });
  });

  describe("deferGuardedUntilCommit", () => {
    const BUMP = statement("test_scope_bump", "update tenant_event_sequences set last_seq = last_seq + 1 where tenant_id = $1 and last_seq = $2");
    const LAST = statement("test_scope_last", "select last_seq::int as n from tenant_event_sequences where tenant_id = $1");
    const seeded = async () => {
      const tenant = randomUUID();
      await scopes.tenant(tenant)(async (em) => void deferUntilCommit(em, `insert into tenant_event_sequences (tenant_id, last_seq) values ('${tenant}', 7)`));
      return tenant;
    };
    const last = (tenant: string) => scopes.tenant(tenant)(async (em) => (await sqlOf(em).rows<{ n: number }>(LAST, [tenant]))[0]!.n);

    it("a guarded write that changes its row commits with the rest; one that changes none fails the transaction with its own error", async () => {
      const tenant = await seeded();
      await scopes.tenant(tenant)(async (em) => {
        deferGuardedUntilCommit(em, BUMP, [tenant, 7], () => new Error("first missed"));
        deferGuardedUntilCommit(em, BUMP, [tenant, 8], () => new Error("second missed"));
      });
      expect(await last(tenant)).toBe(9);
      // The second guard misses (the first moved the row to 10): its error, and nothing stays.
      await expect(
        scopes.tenant(tenant)(async (em) => {
          deferGuardedUntilCommit(em, BUMP, [tenant, 9], () => new Error("first missed"));
          deferGuardedUntilCommit(em, BUMP, [tenant, 9], () => new Error("second missed"));
          deferUntilCommit(em, `insert into tenant_event_sequences (tenant_id, last_seq) values ('${randomUUID()}', 1)`);
        }),
      ).rejects.toThrow("second missed");
      expect(await last(tenant)).toBe(9);
      // Sent early by flushDeferred, a miss is the same error.
      await expect(
        scopes.tenant(tenant)(async (em) => {
          deferGuardedUntilCommit(em, BUMP, [tenant, 1], () => new Error("flushed missed"));
          await flushDeferred(em);
        }),
      ).rejects.toThrow("flushed missed");
      // Another transaction's guard tag is not this one's: an unrelated CMS01 stays a database error.
      await expect(scopes.tenant(tenant)(async (em) => void deferUntilCommit(em, "select customerms_expect_rows(0, 1, 'guard-1')"))).rejects.toMatchObject({
        code: "CMS01",
      });
    });
  });

  it("a statement with a string literal is refused when declared (its $n could not be told from a parameter)", () => {
    expect(() => statement("test_scope_literal", "select '$1' as s")).toThrow(/no string literals/);
  });
});

// db/warm-pool.ts on a real pool: the scopes keep a connection checked out between statements
// and reuse it without asking tarn, give kept connections back whenever anyone else asks tarn or
// the pool closes, never keep a connection whose work failed, and skip one that died while kept.
import type { MikroORM } from "@mikro-orm/postgresql";
import pg from "pg";
import { afterEach, describe, expect, inject, it } from "vitest";
import { openOrm } from "../../src/db/orm.js";
import { createScopes, type Scopes } from "../../src/db/scope.js";
import { statement } from "../../src/db/sql.js";

const PID = statement("warm_pool_test_pid", "select pg_backend_pid() as pid, $1::text as deadline");
const TENANT = "00000000-0000-4000-8000-0000000000aa";

interface Tarn {
  numUsed(): number;
  numFree(): number;
  numPendingAcquires(): number;
  on(event: string, listener: () => void): void;
}

const opened: MikroORM[] = [];
afterEach(async () => {
  for (const orm of opened.splice(0)) await orm.close(true);
});

async function setup(size: number): Promise<{ orm: MikroORM; scopes: Scopes; tarn: Tarn; acquires: () => number }> {
  const orm = await openOrm(inject("serviceDatabaseUrl"), size);
  opened.push(orm);
  const scopes = createScopes(orm);
  const tarn = (orm.em.getConnection() as unknown as { getKnex(): { client: { pool: Tarn } } }).getKnex().client.pool;
  let count = 0;
  tarn.on("acquireRequest", () => count++);
  return { orm, scopes, tarn, acquires: () => count };
}

const pidOf = async (scopes: Scopes) => (await scopes.tenantCall<{ pid: number }>(PID, [])).at(0)!.pid;

describe("warm connections (db/warm-pool.ts)", () => {
  it("a statement keeps its connection; the next one reuses it without asking the pool", async () => {
    const { scopes, tarn, acquires } = await setup(2);
    const first = await pidOf(scopes);
    expect(scopes.warmConnections()).toBe(1);
    expect(tarn.numUsed()).toBe(1); // checked out of tarn while kept
    const before = acquires();
    const pids = [];
    for (let i = 0; i < 5; i++) pids.push(await pidOf(scopes));
    // Transactions go the same way.
    await scopes.tenant(TENANT)(async (em) => em.execute("select 1"));
    expect(acquires()).toBe(before);
    expect(new Set(pids)).toEqual(new Set([first]));
  });

  it("concurrent statements each get a connection; all are kept afterwards, within the pool's size", async () => {
    const { scopes } = await setup(3);
    const pids = await Promise.all(Array.from({ length: 6 }, () => pidOf(scopes)));
    expect(new Set(pids).size).toBeLessThanOrEqual(3);
    expect(scopes.warmConnections()).toBe(new Set(pids).size);
  });

  it("anyone else asking the pool gets the kept connections back first (pool of one: no wait)", async () => {
    const { orm, scopes, tarn } = await setup(1);
    const pid = await pidOf(scopes);
    expect(scopes.warmConnections()).toBe(1);
    // MikroORM's own query, outside the scopes: with the only connection kept, it gets that one
    // (given back on its acquire request) rather than waiting for the idle sweep.
    const [row] = await orm.em.getConnection().execute<Array<{ pid: number }>>("select pg_backend_pid() as pid");
    expect(row!.pid).toBe(pid);
    expect(scopes.warmConnections()).toBe(0);
    expect(tarn.numFree()).toBe(1);
  });

  it("a connection whose work failed goes back to the pool, not to the kept ones", async () => {
    const { scopes } = await setup(2);
    await expect(scopes.tenant(TENANT)(async (em) => em.execute("select 1 / 0"))).rejects.toThrow();
    expect(scopes.warmConnections()).toBe(0);
    await pidOf(scopes);
    expect(scopes.warmConnections()).toBe(1);
  });

  it("a kept connection that died meanwhile is skipped: the next statement runs on a new one", async () => {
    const { scopes, tarn } = await setup(2);
    const pid = await pidOf(scopes);
    const kept = (tarn as unknown as { used: Array<{ resource: { processID: number; __knex__disposed?: unknown } }> }).used.find((u) => u.resource.processID === pid)!.resource;
    const admin = new pg.Client({ connectionString: inject("adminDatabaseUrl") });
    await admin.connect();
    try {
      await admin.query("select pg_terminate_backend($1)", [pid]);
    } finally {
      await admin.end();
    }
    // knex marks the connection when pg reports the loss (its error or end event).
    await expect.poll(() => kept.__knex__disposed !== undefined, { timeout: 5_000 }).toBe(true);
    expect(scopes.warmConnections()).toBe(1);
    const next = await pidOf(scopes); // no error: the dead one is not used
    expect(next).not.toBe(pid);
    expect(scopes.warmConnections()).toBe(1);
  });

  it("closing the pool gives the kept connections back (it waits for every checked-out one)", async () => {
    const { orm, scopes } = await setup(2);
    await Promise.all([pidOf(scopes), pidOf(scopes)]);
    expect(scopes.warmConnections()).toBeGreaterThan(0);
    opened.splice(opened.indexOf(orm), 1);
    await orm.close(true); // would never settle with connections still checked out
    expect(scopes.warmConnections()).toBe(0);
    // And keeps none afterwards.
    await expect(pidOf(scopes)).rejects.toThrow();
    expect(scopes.warmConnections()).toBe(0);
  });
});

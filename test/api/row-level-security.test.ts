// Row-level security as the last line of tenant isolation (the defence_in_depth migration,
// src/db/scope.ts, src/db/database.ts): with the application's own tenant filters bypassed (raw
// SQL without a WHERE clause on the service's pooled connections) a tenant transaction sees,
// writes and changes only its own tenant's rows; a connection without a tenant sees nothing;
// a pooled connection never carries a tenant or the operator role into the next transaction;
// the catalogue proves every tenant table is covered; production refuses a role that would
// bypass the policies.
import { randomBytes, randomUUID } from "node:crypto";
import pg from "pg";
import type { EntityManager, MikroORM } from "@mikro-orm/postgresql";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { loadConfig } from "../../src/config.js";
import { DatabaseRoleError, openDatabase, type Database } from "../../src/db/database.js";
import { openOrm } from "../../src/db/orm.js";
import { createScopes, type Scopes } from "../../src/db/scope.js";
import { statement } from "../../src/db/sql.js";
import { bearer, createTenant, sql, startServer, TEST_MASTER_KEY, type TestServer, type TestTenant } from "../support/app.js";
import { grpcClients, metadata, unary } from "../support/grpc.js";

const kind = inject("databaseKind");
const ownerUrl = inject("databaseUrl");
const serviceUrl = inject("serviceDatabaseUrl");
/** The login role test servers connect with (test/support/global-setup.ts). */
const SERVICE_ROLE = "customerms_test_service";

/** Every tenant table (defence_in_depth and later migrations) and the column its policies compare. */
const TENANT_TABLES: ReadonlyArray<readonly [table: string, column: string]> = [
  ["tenants", "id"],
  ["tenant_audit", "tenant_id"],
  ["tenant_data_keys", "tenant_id"],
  ["api_keys", "tenant_id"],
  ["customers", "tenant_id"],
  ["customer_events", "tenant_id"],
  ["tenant_event_sequences", "tenant_id"],
  ["idempotency_records", "tenant_id"],
  ["session_tokens", "tenant_id"],
];
const column = (table: string) => (table === "tenants" ? "id" : "tenant_id");

/** A query outside a tenant transaction: app.tenant_id never set on this connection, or reset to
 * "" at the end of the last tenant transaction (set_config(..., true)). */
const NO_TENANT = /unrecognized configuration parameter "app\.tenant_id"|invalid input syntax for type uuid: ""/;
const NEVER_SET = /unrecognized configuration parameter "app\.tenant_id"/;
const RESET = /invalid input syntax for type uuid: ""/;

const CUSTOMERS_A = 3;
const CUSTOMERS_B = 2;

let server: TestServer;
let c: ReturnType<typeof grpcClients>;
let A: TestTenant;
let B: TestTenant;
let ownerRole: string;
const orms: MikroORM[] = [];
const databases: Database[] = [];

beforeAll(async () => {
  server = await startServer();
  c = grpcClients(server.port);
  A = await createTenant(server);
  B = await createTenant(server);
  // Through the API, with request_id so that idempotency records exist too.
  for (const [tenant, n] of [[A, CUSTOMERS_A], [B, CUSTOMERS_B]] as const) {
    for (let i = 0; i < n; i++) {
      await unary(
        c.customers,
        "createCustomer",
        {
          customer: { individual: { givenName: "Rosalind", familyName: "Franklin" }, email: `rf.${randomUUID()}@example.com`, countryCode: "GB" },
          requestId: randomUUID(),
        },
        metadata(bearer(tenant.apiKey)),
      );
    }
    await unary(c.customers, "createSessionToken", {}, metadata(bearer(tenant.apiKey)));
  }
  // On the embedded PGlite every connection shares one session, which the service has dropped to
  // customerms_app: the owner is the URL's user there.
  ownerRole =
    kind === "postgresql"
      ? (await sql<{ name: string }>(ownerUrl, "select current_user as name"))[0]!.name
      : decodeURIComponent(new URL(ownerUrl).username);
});

afterAll(async () => {
  c?.close();
  for (const orm of orms) await orm.close(true);
  for (const db of databases) await db.close();
  await server?.close();
});

// ---------------------------------------------------------------------------------------------
// Helpers

type PgError = Error & { code?: string };

/** The rejection of `p` (fails the test if it resolved). */
async function rejection(p: Promise<unknown>): Promise<PgError> {
  try {
    await p;
  } catch (err) {
    return err as PgError;
  }
  throw new Error("expected the query to fail, but it succeeded");
}

/** Rows of a tenant table counted by the owner (who bypasses row-level security). */
async function ownerCount(table: string, tenantId: string): Promise<number> {
  const rows = await sql<{ n: number }>(ownerUrl, `select count(*)::int as n from "${table}" where "${column(table)}" = $1`, [tenantId]);
  return rows[0]!.n;
}

/** The tenant column of every row of `table` that a tenant transaction sees, with no WHERE clause. */
function visibleTenants(scopes: Scopes, tenantId: string, table: string): Promise<string[]> {
  return scopes
    .tenant(tenantId)(async (em) => em.execute<Array<{ t: string }>>(`select "${column(table)}"::text as t from "${table}"`))
    .then((rows) => rows.map((r) => r.t));
}

/** A pool of `size` connections on the service's login role, with its own scopes. */
async function serviceOrm(size: number): Promise<{ orm: MikroORM; scopes: Scopes }> {
  const orm = await openOrm(serviceUrl, size);
  orms.push(orm);
  return { orm, scopes: createScopes(orm) };
}

async function closeOrm(orm: MikroORM): Promise<void> {
  orms.splice(orms.indexOf(orm), 1);
  await orm.close(true);
}

async function withClient<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** Thrown to roll a scope's transaction back after recording what happened inside it. */
class Rollback extends Error {}

async function rolledBack(work: Promise<unknown>): Promise<void> {
  const err = await rejection(work);
  if (!(err instanceof Rollback)) throw err;
}

/** The error of `statement` in a tenant transaction that is rolled back whatever happens (so a
 * write that wrongly succeeds cannot leak into the other tests); fails the test if it succeeded. */
async function failureInTenant(scopes: Scopes, tenantId: string, statement: string): Promise<PgError> {
  let failure: PgError | undefined;
  await rolledBack(
    scopes.tenant(tenantId)(async (em) => {
      failure = await rejection(em.execute(statement, [], "run"));
      throw new Rollback();
    }),
  );
  return failure!;
}

// ---------------------------------------------------------------------------------------------

// Both database kinds: on PostgreSQL the test servers log in as the service role; on the embedded
// PGlite (no logins, one shared session) the service drops to customerms_app with SET ROLE.
describe("the service's own pool, in either database kind", () => {
  it("the service pool is held to row-level security (login role on PostgreSQL, SET ROLE on the embedded PGlite)", async () => {
    // On the PGlite the one session may already have been dropped to customerms_app by another
    // file's server: then this server finds itself logged in as customerms_app.
    if (kind === "postgresql") {
      expect(server.app.database.role).toEqual({ name: SERVICE_ROLE, via: "login" });
    } else {
      expect([{ name: ownerRole, via: "set-role" }, { name: "customerms_app", via: "login" }]).toContainEqual(server.app.database.role);
    }
    const user = kind === "postgresql" ? SERVICE_ROLE : "customerms_app";
    for (const [tenant, n] of [[A.id, CUSTOMERS_A], [B.id, CUSTOMERS_B]] as const) {
      const seen = await server.app.database.scopes.tenant(tenant)(async (em) =>
        em.execute<Array<{ user: string; t: string }>>("select current_user as user, tenant_id::text as t from customers"),
      );
      expect(seen).toEqual(Array(n).fill({ user, t: tenant }));
      expect(await visibleTenants(server.app.database.scopes, tenant, "tenants")).toEqual([tenant]);
    }
  });

  it("a query on the service's pool outside a tenant transaction fails, on every pooled connection", async () => {
    const { orm } = server.app.database;
    // Concurrent, so that several of the pool's connections answer.
    const results = await Promise.allSettled(
      Array.from({ length: 8 }, (_, i) =>
        orm.em.getConnection().execute(i % 2 === 0 ? "select count(*) from customers" : "select count(*) from tenants"),
      ),
    );
    expect(results.map((r) => r.status)).toEqual(Array(8).fill("rejected"));
    for (const r of results) expect(String((r as PromiseRejectedResult).reason?.message)).toMatch(NO_TENANT);
  });
});

// The owner's own checks below need a session of their own, which the embedded PGlite (one
// session shared by every connection) does not give: PostgreSQL only, as in CI.
describe.runIf(kind === "postgresql")("tenant transactions on the service's own pool, application filters bypassed", () => {
  it("in every tenant table A's transaction sees exactly A's rows and 0 of B's, and B's likewise", async () => {
    const { scopes } = server.app.database;
    // The API wrote rows for both tenants in every table, so each check has something to hide.
    const expected: Record<string, { a: number; b: number }> = {};
    for (const [table] of TENANT_TABLES) {
      expected[table] = { a: await ownerCount(table, A.id), b: await ownerCount(table, B.id) };
    }
    expect(expected).toMatchObject({
      tenants: { a: 1, b: 1 },
      customers: { a: CUSTOMERS_A, b: CUSTOMERS_B },
      idempotency_records: { a: CUSTOMERS_A, b: CUSTOMERS_B },
      api_keys: { a: 1, b: 1 },
    });
    for (const [table] of TENANT_TABLES) {
      expect(expected[table]!.a, `${table}: rows of A`).toBeGreaterThan(0);
      expect(expected[table]!.b, `${table}: rows of B`).toBeGreaterThan(0);
    }
    expect(expected.customer_events!.a).toBeGreaterThanOrEqual(CUSTOMERS_A);

    for (const [table] of TENANT_TABLES) {
      const asA = await visibleTenants(scopes, A.id, table);
      const asB = await visibleTenants(scopes, B.id, table);
      expect({ table, ofB: asA.filter((t) => t === B.id).length, ofA: asB.filter((t) => t === A.id).length }).toEqual({
        table,
        ofB: 0,
        ofA: 0,
      });
      expect({ table, rows: asA }).toEqual({ table, rows: Array(expected[table]!.a).fill(A.id) });
      expect({ table, rows: asB }).toEqual({ table, rows: Array(expected[table]!.b).fill(B.id) });
    }
    // tenants: A's own row only.
    expect(await visibleTenants(scopes, A.id, "tenants")).toEqual([A.id]);
  });

  it("inserting a row with B's tenant_id under A's context fails with 42501 (and the same row is otherwise valid)", async () => {
    const { scopes } = server.app.database;
    // Each statement copies one of A's rows, with the tenant replaced and unique columns made fresh.
    const overrides: Record<string, Record<string, string>> = {
      customers: { id: "gen_random_uuid()", email: "'rls.' || gen_random_uuid() || '@example.com'", phone_number: "null", external_id: "null" },
      customer_events: { id: "gen_random_uuid()", seq: "9000000000 + seq" },
      api_keys: { id: "gen_random_uuid()", key_hash: "md5(gen_random_uuid()::text)" },
      idempotency_records: { request_id: "gen_random_uuid()" },
      tenants: {},
    };
    const columns = await sql<{ table_name: string; column_name: string }>(
      ownerUrl,
      `select table_name, column_name from information_schema.columns
        where table_schema = 'public' and table_name = any($1) order by table_name, ordinal_position`,
      [Object.keys(overrides)],
    );
    const insert = (table: string, tenantExpr: string) => {
      const cols = columns.filter((c) => c.table_name === table).map((c) => c.column_name);
      const values = cols.map((col) => (col === column(table) ? tenantExpr : (overrides[table]![col] ?? `"${col}"`)));
      return `insert into "${table}" (${cols.map((c) => `"${c}"`).join(", ")}) select ${values.join(", ")} from "${table}" where "${column(table)}" = '${A.id}' limit 1`;
    };

    for (const table of Object.keys(overrides)) {
      // A tenants row for another tenant: a fresh id (B's own id would collide with B's row).
      const foreign = table === "tenants" ? "gen_random_uuid()" : `'${B.id}'::uuid`;
      const statement = insert(table, foreign);

      // Control 1: the statement itself is valid, the owner (no RLS) could run it.
      const ownerInserted = await withClient(ownerUrl, async (client) => {
        await client.query("begin");
        try {
          return (await client.query(statement)).rowCount;
        } finally {
          await client.query("rollback");
        }
      });
      expect({ table, ownerInserted }).toEqual({ table, ownerInserted: 1 });

      // Control 2: under A's context, the same copy with A's own tenant id passes the policy.
      if (table !== "tenants") {
        let own: number | undefined;
        await rolledBack(
          scopes.tenant(A.id)(async (em) => {
            own = (await em.execute<{ affectedRows: number }>(insert(table, `'${A.id}'::uuid`), [], "run")).affectedRows;
            throw new Rollback();
          }),
        );
        expect({ table, own }).toEqual({ table, own: 1 });
      }

      const err = await failureInTenant(scopes, A.id, statement);
      expect({ table, code: err.code }).toEqual({ table, code: "42501" });
      expect(err.message).toContain(`new row violates row-level security policy for table "${table}"`);
    }
    // Nothing was written for B.
    expect(await ownerCount("customers", B.id)).toBe(CUSTOMERS_B);
    expect(await ownerCount("api_keys", B.id)).toBe(1);
    expect(await ownerCount("idempotency_records", B.id)).toBe(CUSTOMERS_B);
  });

  it("updating or deleting B's rows under A's context affects 0 rows (A's own: all of them)", async () => {
    const { scopes } = server.app.database;
    const fingerprint = async () =>
      (
        await sql<{ f: string }>(
          ownerUrl,
          `select (select md5(string_agg(c::text, ',' order by c.id)) from customers c where c.tenant_id = $1)
               || (select md5(string_agg(k::text, ',' order by k.id)) from api_keys k where k.tenant_id = $1)
               || (select md5(t::text) from tenants t where t.id = $1) as f`,
          [B.id],
        )
      )[0]!.f;
    const before = await fingerprint();
    const affected: Record<string, number> = {};
    const run = async (em: EntityManager, name: string, statement: string) => {
      affected[name] = (await em.execute<{ affectedRows: number }>(statement, [], "run")).affectedRows;
    };
    // Rolled back whatever happens: a failing policy must not damage B's data for other tests.
    await rolledBack(
      scopes.tenant(A.id)(async (em) => {
        await run(em, "update B's customers", `update customers set status_note = 'rls' where tenant_id = '${B.id}'`);
        await run(em, "update B's api keys", `update api_keys set display_name = 'rls' where tenant_id = '${B.id}'`);
        await run(em, "update B's tenant", `update tenants set display_name = 'rls' where id = '${B.id}'`);
        await run(em, "delete B's customers", `delete from customers where tenant_id = '${B.id}'`);
        await run(em, "delete B's idempotency records", `delete from idempotency_records where tenant_id = '${B.id}'`);
        await run(em, "delete B's tenant", `delete from tenants where id = '${B.id}'`);
        await run(em, "update every customer", "update customers set status_note = 'rls'");
        await run(em, "delete every idempotency record", "delete from idempotency_records");
        throw new Rollback();
      }),
    );
    expect(affected).toEqual({
      "update B's customers": 0,
      "update B's api keys": 0,
      "update B's tenant": 0,
      "delete B's customers": 0,
      "delete B's idempotency records": 0,
      "delete B's tenant": 0,
      "update every customer": CUSTOMERS_A,
      "delete every idempotency record": CUSTOMERS_A,
    });
    // Moving A's own rows to B is refused by WITH CHECK.
    const move = await failureInTenant(scopes, A.id, `update customers set tenant_id = '${B.id}'`);
    expect(move.code).toBe("42501");
    expect(move.message).toContain('new row violates row-level security policy for table "customers"');
    expect(await fingerprint()).toBe(before);
    expect(await ownerCount("customers", A.id)).toBe(CUSTOMERS_A);
  });
});

describe.runIf(kind === "postgresql")("roles, pooled connections and the catalogue (PostgreSQL)", () => {
  it("pool of one: no tenant fails on a brand-new connection and again after that connection ran tenant transactions", async () => {
    const { orm, scopes } = await serviceOrm(1);
    const conn = () => orm.em.getConnection();
    const pid = async () => (await conn().execute<Array<{ pid: number }>>("select pg_backend_pid() as pid"))[0]!.pid;
    const first = await pid();

    expect((await rejection(conn().execute("select count(*) from customers"))).message).toMatch(NEVER_SET);

    const seen = await visibleTenants(scopes, A.id, "customers");
    expect(seen).toEqual(Array(CUSTOMERS_A).fill(A.id));
    expect(await pid()).toBe(first);
    const setting = await conn().execute<Array<{ v: string }>>("select current_setting('app.tenant_id') as v");
    expect(setting).toEqual([{ v: "" }]);
    expect((await rejection(conn().execute("select count(*) from customers"))).message).toMatch(RESET);
    expect((await rejection(conn().execute("select count(*) from api_keys"))).message).toMatch(RESET);

    // A tenant transaction that fails and rolls back does not leave its tenant behind either.
    await rolledBack(
      scopes.tenant(B.id)(async (em) => {
        expect(await em.execute("select tenant_id::text as t from customers")).toHaveLength(CUSTOMERS_B);
        throw new Rollback();
      }),
    );
    expect(await pid()).toBe(first);
    expect((await rejection(conn().execute("select count(*) from customers"))).message).toMatch(RESET);
    await closeOrm(orm);
  });

  it("customer_by_id (GetCustomer's one statement, Scopes.tenantCall): a tenant's own row only, and no tenant left on the connection", async () => {
    const { orm, scopes } = await serviceOrm(1);
    const byId = statement("rls_test_customer_by_id", "select tenant_id::text as t, id::text as id from customer_by_id($1, $2, $3)");
    const [a, b] = await Promise.all(
      [A, B].map(async (t) => (await sql<{ id: string }>(ownerUrl, "select id::text as id from customers where tenant_id = $1 limit 1", [t.id]))[0]!.id),
    );
    expect(await scopes.tenantCall(byId, [A.id, a], Date.now() + 10_000)).toEqual([{ t: A.id, id: a }]);
    expect(await scopes.tenantCall(byId, [B.id, b])).toEqual([{ t: B.id, id: b }]);
    // B's customer asked for under A: nothing, exactly like an id that does not exist.
    expect(await scopes.tenantCall(byId, [A.id, b], Date.now() + 10_000)).toEqual([]);
    expect(await scopes.tenantCall(byId, [A.id, randomUUID()])).toEqual([]);
    // The tenant and the lock_timeout lived for that one statement: the pooled connection is back
    // to no tenant and the server's default lock_timeout.
    const conn = orm.em.getConnection();
    expect(await conn.execute("select current_setting('app.tenant_id') as v, current_setting('lock_timeout') as l")).toEqual([{ v: "", l: "0" }]);
    expect((await rejection(conn.execute("select count(*) from customers"))).message).toMatch(RESET);
    // A deadline already passed: refused before anything is sent.
    await expect(scopes.tenantCall(byId, [A.id, a], Date.now() - 1)).rejects.toMatchObject({ code: "DEADLINE_EXCEEDED" });
    await closeOrm(orm);
  });

  it("customer_by_id returns exactly the columns of customers, in order, with their types (a column added later needs the function replaced)", async () => {
    const table = await sql<{ name: string; type: string }>(
      ownerUrl,
      `select attname as name, format_type(atttypid, null) as type from pg_attribute
        where attrelid = 'customers'::regclass and attnum > 0 and not attisdropped order by attnum`,
    );
    const fn = await sql<{ name: string; type: string }>(
      ownerUrl,
      `select a.name, format_type(a.type, null) as type
         from pg_proc p, unnest(p.proallargtypes, p.proargmodes, p.proargnames) with ordinality as a(type, mode, name, n)
        where p.proname = 'customer_by_id' and a.mode = 't' order by a.n`,
    );
    expect(table.length).toBeGreaterThan(20);
    expect(fn).toEqual(table);
  });

  it("pool of one alternating tenants A and B 10 000 times: never a wrong row, always the full count", { timeout: 180_000 }, async () => {
    const { scopes } = await serviceOrm(1);
    const ITERATIONS = 10_000;
    const expected = { [A.id]: CUSTOMERS_A, [B.id]: CUSTOMERS_B };
    let iterations = 0;
    let wrongRows = 0;
    let wrongCountTotal = 0;
    const wrongCounts: Array<{ i: number; tenant: string; rows: number }> = [];
    const backends = new Set<number>();
    const started = performance.now();
    for (let i = 0; i < ITERATIONS; i++) {
      const tenant = i % 2 === 0 ? A.id : B.id;
      const rows = await scopes.tenant(tenant)(async (em) =>
        em.execute<Array<{ t: string; pid: number }>>("select tenant_id::text as t, pg_backend_pid() as pid from customers"),
      );
      iterations++;
      for (const r of rows) {
        if (r.t !== tenant) wrongRows++;
        backends.add(r.pid);
      }
      if (rows.length !== expected[tenant]) {
        wrongCountTotal++;
        if (wrongCounts.length < 10) wrongCounts.push({ i, tenant, rows: rows.length });
      }
    }
    const ms = Math.round(performance.now() - started);
    console.info(`[row-level-security] ${iterations} alternating tenant transactions on one pooled connection: ${ms} ms`);
    expect({ iterations, wrongRows, wrongCountTotal, wrongCounts, backends: backends.size }).toEqual({
      iterations: ITERATIONS,
      wrongRows: 0,
      wrongCountTotal: 0,
      wrongCounts: [],
      backends: 1,
    });
  });

  it("catalogue: every table with a tenant_id column, and tenants, has RLS enabled and forced with exactly both policies", async () => {
    // As the owner: information_schema.columns lists only columns the current role may use, and a
    // new table without grants must still be found.
    const found = await sql<{ table_name: string }>(
      ownerUrl,
      `select distinct c.table_name from information_schema.columns c
         join information_schema.tables t on t.table_schema = c.table_schema and t.table_name = c.table_name
        where c.table_schema = 'public' and c.column_name = 'tenant_id' and t.table_type = 'BASE TABLE'
        order by 1`,
    );
    const tables = [...new Set(["tenants", ...found.map((r) => r.table_name)])].sort();
    expect(tables).toEqual(expect.arrayContaining(TENANT_TABLES.map(([t]) => t)));

    const flags = await sql<{ relname: string; rls: boolean; forced: boolean }>(
      ownerUrl,
      `select c.relname, c.relrowsecurity as rls, c.relforcerowsecurity as forced
         from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = 'public' and c.relname = any($1) order by 1`,
      [tables],
    );
    flags.sort((x, y) => (x.relname < y.relname ? -1 : 1));
    expect(flags).toEqual(tables.map((relname) => ({ relname, rls: true, forced: true })));

    const policies = await sql<{ tablename: string; policyname: string; permissive: string; roles: string[]; cmd: string; qual: string; with_check: string }>(
      ownerUrl,
      `select tablename, policyname, permissive, roles::text[] as roles, cmd, qual, with_check
         from pg_policies where schemaname = 'public' and tablename = any($1) order by tablename, policyname`,
      [tables],
    );
    policies.sort((x, y) => (`${x.tablename} ${x.policyname}` < `${y.tablename} ${y.policyname}` ? -1 : 1));
    const operator = "(current_setting('app.operator_reason'::text) <> ''::text)";
    expect(policies).toEqual(
      tables.flatMap((t) => {
        const tenant = `(${column(t)} = (current_setting('app.tenant_id'::text))::uuid)`;
        return [
          { tablename: t, policyname: `${t}_operator_access`, permissive: "PERMISSIVE", roles: ["customerms_operator"], cmd: "ALL", qual: operator, with_check: operator },
          { tablename: t, policyname: `${t}_tenant_isolation`, permissive: "PERMISSIVE", roles: ["customerms_app"], cmd: "ALL", qual: tenant, with_check: tenant },
        ];
      }),
    );
  });

  it("the service role is no superuser, has no BYPASSRLS, owns no table and reaches no role that would; customerms_app is NOINHERIT", async () => {
    const conn = server.app.database.orm.em.getConnection();
    const [me] = await conn.execute<Array<{ name: string; superuser: boolean; bypassrls: boolean; app: boolean }>>(
      `select current_user as name, r.rolsuper as superuser, r.rolbypassrls as bypassrls,
              pg_has_role(current_user, 'customerms_app', 'MEMBER') as app
         from pg_roles r where r.rolname = current_user`,
    );
    expect(me).toEqual({ name: SERVICE_ROLE, superuser: false, bypassrls: false, app: true });

    const owned = await conn.execute<Array<{ relname: string }>>(
      `select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = 'public' and c.relkind in ('r', 'p', 'v', 'm', 'f')
          and (c.relowner = (select oid from pg_roles where rolname = current_user) or pg_has_role(current_user, c.relowner, 'MEMBER'))`,
    );
    expect(owned).toEqual([]);
    const tablesInPublic = await conn.execute<Array<{ n: number }>>(
      "select count(*)::int as n from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = 'public' and c.relkind = 'r'",
    );
    expect(tablesInPublic[0]!.n).toBeGreaterThanOrEqual(TENANT_TABLES.length);

    const bypassing = await conn.execute<Array<{ rolname: string }>>(
      "select rolname from pg_roles where (rolsuper or rolbypassrls) and pg_has_role(current_user, oid, 'MEMBER')",
    );
    expect(bypassing).toEqual([]);

    const roles = await conn.execute<Array<{ rolname: string; inherit: boolean; login: boolean; superuser: boolean; bypassrls: boolean }>>(
      `select rolname, rolinherit as inherit, rolcanlogin as login, rolsuper as superuser, rolbypassrls as bypassrls
         from pg_roles where rolname in ('customerms_app', 'customerms_operator') order by rolname`,
    );
    expect(roles).toEqual([
      { rolname: "customerms_app", inherit: false, login: false, superuser: false, bypassrls: false },
      { rolname: "customerms_operator", inherit: expect.any(Boolean), login: false, superuser: false, bypassrls: false },
    ]);
  });

  it("the service role cannot SET ROLE to a role it is not a member of", async () => {
    await withClient(serviceUrl, async (client) => {
      const direct = await rejection(client.query(`set role "${ownerRole}"`));
      expect(direct).toMatchObject({ code: "42501" });
      expect(direct.message).toBe(`permission denied to set role "${ownerRole}"`);

      await client.query("begin");
      const viaConfig = await rejection(client.query("select set_config('role', $1, true)", [ownerRole]));
      await client.query("rollback");
      expect(viaConfig).toMatchObject({ code: "42501" });
      expect(viaConfig.message).toBe(`permission denied to set role "${ownerRole}"`);

      const authorization = await rejection(client.query(`set session authorization "${ownerRole}"`));
      expect(authorization).toMatchObject({ code: "42501" });

      const after = await client.query<{ user: string; session: string }>("select current_user as user, session_user as session");
      expect(after.rows).toEqual([{ user: SERVICE_ROLE, session: SERVICE_ROLE }]);
    });
  });

  it("the operator role without app.operator_reason: fails where it was never set, sees 0 rows where it is empty", async () => {
    for (const [table] of TENANT_TABLES) expect(await ownerCount(table, A.id)).toBeGreaterThan(0);
    await withClient(serviceUrl, async (client) => {
      await client.query("begin");
      await client.query("set local role customerms_operator");
      const err = await rejection(client.query("select count(*) from customers"));
      await client.query("rollback");
      expect(err.message).toBe('unrecognized configuration parameter "app.operator_reason"');

      await client.query("begin");
      await client.query("set local role customerms_operator");
      // An empty reason, even with a tenant set: the operator role has no tenant policy.
      await client.query("select set_config('app.operator_reason', '', true), set_config('app.tenant_id', $1, true)", [A.id]);
      const counts: Record<string, number> = {};
      for (const [table] of TENANT_TABLES) {
        counts[table] = (await client.query<{ n: number }>(`select count(*)::int as n from "${table}"`)).rows[0]!.n;
      }
      const write = await client.query(`update customers set status_note = 'rls' where tenant_id = $1`, [A.id]);
      await client.query("rollback");
      expect(counts).toEqual(Object.fromEntries(TENANT_TABLES.map(([t]) => [t, 0])));
      expect(write.rowCount).toBe(0);
    });
  });

  it("operator scope sees both tenants; after it commits the pooled connection is back to the service role and no tenant", async () => {
    const { orm, scopes } = await serviceOrm(1);
    const conn = () => orm.em.getConnection();
    const pid = async () => (await conn().execute<Array<{ pid: number }>>("select pg_backend_pid() as pid"))[0]!.pid;
    const first = await pid();

    const inside = await scopes.operator("maintenance/test")(async (em) => ({
      who: await em.execute("select current_user as user, current_setting('app.operator_reason') as reason"),
      customers: await em.execute<Array<{ t: string; n: number }>>(
        `select tenant_id::text as t, count(*)::int as n from customers where tenant_id in ('${A.id}', '${B.id}') group by 1`,
      ),
      tenants: await em.execute<Array<{ id: string }>>(`select id::text as id from tenants where id in ('${A.id}', '${B.id}')`),
    }));
    expect(inside.who).toEqual([{ user: "customerms_operator", reason: "maintenance/test" }]);
    expect(Object.fromEntries(inside.customers.map((r) => [r.t, r.n]))).toEqual({ [A.id]: CUSTOMERS_A, [B.id]: CUSTOMERS_B });
    expect(inside.tenants.map((r) => r.id).sort()).toEqual([A.id, B.id].sort());

    expect(await pid()).toBe(first);
    const after = await conn().execute("select current_user as user, current_setting('app.operator_reason') as reason");
    expect(after).toEqual([{ user: SERVICE_ROLE, reason: "" }]);
    expect((await rejection(conn().execute("select count(*) from customers"))).message).toMatch(NEVER_SET);

    // A failing operator transaction rolls the role switch back as well.
    await rolledBack(
      scopes.operator("maintenance/test")(async () => {
        throw new Rollback();
      }),
    );
    expect(await pid()).toBe(first);
    expect(await conn().execute("select current_user as user")).toEqual([{ user: SERVICE_ROLE }]);
    expect((await rejection(conn().execute("select count(*) from tenants"))).message).toMatch(NEVER_SET);
    await closeOrm(orm);
  });

  describe("openDatabase and the login role", () => {
    const production = (url: string) =>
      loadConfig({
        NODE_ENV: "production",
        DATABASE_URL: url,
        DATABASE_POOL_MAX: "2",
        REDIS_URL: "redis://127.0.0.1:6379",
        CUSTOMERMS_ADMIN_TOKEN: `admin-${"a".repeat(40)}`,
        CUSTOMERMS_MASTER_KEY: TEST_MASTER_KEY,
        CUSTOMERMS_SECRET: "s".repeat(40),
        CUSTOMERMS_NOTIFIER: "webhook",
        CUSTOMERMS_WEBHOOK_URL: "http://127.0.0.1:9/notify",
        CUSTOMERMS_WEBHOOK_SECRET: "w".repeat(40),
        CUSTOMERMS_MIGRATE_ON_START: "false",
      });

    async function open(config: ReturnType<typeof loadConfig>): Promise<Database> {
      const db = await openDatabase(config, undefined, { migrate: config.migrateOnStart });
      databases.push(db);
      return db;
    }

    async function close(db: Database): Promise<void> {
      databases.splice(databases.indexOf(db), 1);
      await db.close();
    }

    it("production refuses the owner's superuser DATABASE_URL with DatabaseRoleError naming the role", async () => {
      const [owner] = await sql<{ superuser: boolean; bypassrls: boolean }>(
        ownerUrl,
        "select rolsuper as superuser, rolbypassrls as bypassrls from pg_roles where rolname = current_user",
      );
      expect(owner!.superuser || owner!.bypassrls).toBe(true);
      const reasons = [owner!.superuser && "a superuser", owner!.bypassrls && "BYPASSRLS", "the owner of the tables"].filter(Boolean);
      const config = production(ownerUrl);
      expect(config.migrateOnStart).toBe(false);
      const err = await rejection(open(config));
      expect(err).toBeInstanceOf(DatabaseRoleError);
      expect(err.name).toBe("DatabaseRoleError");
      expect(err.message).toContain(`DATABASE_URL connects as "${ownerRole}", which is or can become ${reasons.join(" and ")}: row-level security would not hold it.`);
    });

    it("production refuses a login role that could SET ROLE to a superuser (membership, not only its own attributes)", async () => {
      const role = `cms_test_escalator_${randomBytes(4).toString("hex")}`;
      await sql(ownerUrl, `create role ${role} login in role customerms_app`);
      await sql(ownerUrl, `grant "${ownerRole}" to ${role}`);
      try {
        const u = new URL(serviceUrl);
        u.username = role;
        const err = await rejection(open(production(u.toString())));
        expect(err).toBeInstanceOf(DatabaseRoleError);
        expect(err.message).toContain(`DATABASE_URL connects as "${role}", which is or can become a superuser`);
      } finally {
        await sql(ownerUrl, `drop role ${role}`);
      }
    });

    it("production opens with the service's login role (via login) and holds it to the policies", async () => {
      const db = await open(production(serviceUrl));
      expect(db.role).toEqual({ name: SERVICE_ROLE, via: "login" });
      expect(db.kind).toBe("postgresql");
      expect(await visibleTenants(db.scopes, A.id, "customers")).toEqual(Array(CUSTOMERS_A).fill(A.id));
      expect((await rejection(db.orm.em.getConnection().execute("select count(*) from customers"))).message).toMatch(NO_TENANT);
      await close(db);
    });

    it("test mode with the superuser URL falls back to SET ROLE customerms_app and still enforces RLS", async () => {
      const db = await open(
        loadConfig({ NODE_ENV: "test", DATABASE_URL: ownerUrl, DATABASE_POOL_MAX: "1", CUSTOMERMS_MIGRATE_ON_START: "false" }),
      );
      expect(db.role).toEqual({ name: ownerRole, via: "set-role" });
      const conn = () => db.orm.em.getConnection();
      expect(await conn().execute("select current_user as user, session_user as session")).toEqual([
        { user: "customerms_app", session: ownerRole },
      ]);
      const seen = await db.scopes.tenant(A.id)(async (em) =>
        em.execute<Array<{ user: string; t: string }>>("select current_user as user, tenant_id::text as t from customers"),
      );
      expect(seen).toEqual(Array(CUSTOMERS_A).fill({ user: "customerms_app", t: A.id }));
      expect(await visibleTenants(db.scopes, B.id, "tenants")).toEqual([B.id]);
      expect((await rejection(conn().execute("select count(*) from customers"))).message).toMatch(RESET);
      // The operator switch ends with its transaction: back to customerms_app, not to the superuser.
      const operator = await db.scopes.operator("maintenance/test")(async (em) => em.execute("select current_user as user"));
      expect(operator).toEqual([{ user: "customerms_operator" }]);
      expect(await conn().execute("select current_user as user")).toEqual([{ user: "customerms_app" }]);
      expect((await rejection(conn().execute("select count(*) from customers"))).message).toMatch(RESET);
      await close(db);
    });
  });
});

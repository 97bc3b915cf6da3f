// db/retention.ts: idempotency records older than the retention and session tokens expired for
// more than a day are deleted, every tenant's and the operator calls' alike, in batches, by
// passes that may run side by side; newer rows stay. On the real database, as the service's role
// (row-level security on: the pass runs as the operator), in a database of this file's own: a
// pass deletes every tenant's expired rows, whoever wrote them.
import { randomUUID } from "node:crypto";
import type { MikroORM } from "@mikro-orm/postgresql";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ADMIN_SCOPE } from "../../src/db/idempotency.js";
import { openOrm } from "../../src/db/orm.js";
import { MAX_BATCHES, RETENTION_BATCH, RetentionSweeper, SESSION_TOKEN_GRACE_MS } from "../../src/db/retention.js";
import { createScopes, type Scopes } from "../../src/db/scope.js";
import { sql } from "../support/app.js";
import { createOwnDatabase, type OwnDatabase } from "../support/own-database.js";

const HOUR = 3_600_000;
const RETENTION = 48 * HOUR;

let database: OwnDatabase | undefined;
let orm: MikroORM;
let scopes: Scopes;

beforeAll(async () => {
  database = await createOwnDatabase("cms_retention");
  orm = await openOrm(database.serviceUrl, 4);
  scopes = createScopes(orm);
});

afterAll(async () => {
  scopes?.close();
  await orm?.close(true);
  await database?.drop();
});

const owner = (text: string, values: unknown[] = []) => sql(database!.ownerUrl, text, values);

async function tenant(): Promise<string> {
  const id = randomUUID();
  await owner(`insert into tenants (id, display_name, create_time, update_time) values ($1, 'retention test', now(), now())`, [id]);
  return id;
}

/** `n` idempotency records of the scope, created `ageMs` ago; their request_ids. */
async function records(scope: string, ageMs: number, n = 1): Promise<string[]> {
  const rows = await owner(
    `insert into idempotency_records (tenant_id, request_id, method, fingerprint, response, resource_id, create_time)
     select $1, gen_random_uuid(), 'test/Method', 'f', '\\x00'::bytea, null, now() - make_interval(secs => $2::double precision / 1000)
     from generate_series(1, $3) returning request_id`,
    [scope, ageMs, n],
  );
  return rows.map((r) => String(r.request_id));
}

/** A session token of the tenant that expired `agoMs` ago (negative: still valid); its id. */
async function sessionToken(tenantId: string, agoMs: number): Promise<string> {
  const id = randomUUID();
  await owner(
    `insert into session_tokens (tenant_id, id, token_hash, api_key_id, customer_id, create_time, expire_time)
     values ($1, $2, $3, $4, null, now() - interval '30 days', now() - make_interval(secs => $5::double precision / 1000))`,
    [tenantId, id, randomUUID(), randomUUID(), agoMs],
  );
  return id;
}

async function left(table: "idempotency_records" | "session_tokens", key: "request_id" | "id", ids: string[]): Promise<string[]> {
  const rows = await owner(`select ${key} as id from ${table} where ${key} = any($1::uuid[])`, [ids]);
  return rows.map((r) => String(r.id)).sort();
}

const quiet = { info: () => undefined, warn: () => undefined };
/** A sweeper keeping idempotency records `retentionMs` (undefined: for good). */
const sweeper = (retentionMs: number | undefined) => new RetentionSweeper(scopes, retentionMs, quiet);

describe("retention", () => {
  it("deletes idempotency records older than the retention, of every tenant and of the operator calls; keeps the newer ones", async () => {
    const [a, b] = [await tenant(), await tenant()];
    const old = [...(await records(a, RETENTION + HOUR)), ...(await records(b, 10 * RETENTION)), ...(await records(ADMIN_SCOPE, RETENTION + HOUR))];
    const recent = [...(await records(a, RETENTION - HOUR)), ...(await records(b, 0)), ...(await records(ADMIN_SCOPE, HOUR))];

    const pass = await sweeper(RETENTION).runOnce();

    expect(pass.idempotencyRecords).toBe(old.length);
    expect(await left("idempotency_records", "request_id", old)).toEqual([]);
    expect(await left("idempotency_records", "request_id", recent)).toEqual([...recent].sort());
  });

  it("deletes session tokens a day after they expire; keeps those expired more recently and the live ones", async () => {
    const t = await tenant();
    const gone = [await sessionToken(t, SESSION_TOKEN_GRACE_MS + HOUR), await sessionToken(t, 30 * SESSION_TOKEN_GRACE_MS)];
    const kept = [await sessionToken(t, SESSION_TOKEN_GRACE_MS - HOUR), await sessionToken(t, -HOUR)];

    const pass = await sweeper(RETENTION).runOnce();

    expect(pass.sessionTokens).toBe(gone.length);
    expect(await left("session_tokens", "id", gone)).toEqual([]);
    expect(await left("session_tokens", "id", kept)).toEqual([...kept].sort());
  });

  it("with retention off (CUSTOMERMS_IDEMPOTENCY_RETENTION_HOURS=0) keeps every idempotency record, and still deletes expired session tokens", async () => {
    const t = await tenant();
    const old = await records(t, 100 * RETENTION);
    const token = await sessionToken(t, 2 * SESSION_TOKEN_GRACE_MS);

    const pass = await sweeper(undefined).runOnce();

    expect(pass).toEqual({ idempotencyRecords: 0, sessionTokens: 1 });
    expect(await left("idempotency_records", "request_id", old)).toEqual(old);
    expect(await left("session_tokens", "id", [token])).toEqual([]);
    await owner(`delete from idempotency_records where tenant_id = $1`, [t]); // the next tests count what they delete
  });

  it("deletes more than a batch in several statements, and passes running side by side delete each row once", async () => {
    const t = await tenant();
    const n = 2 * RETENTION_BATCH + 500;
    const old = await records(t, RETENTION + HOUR, n);
    const keep = await records(t, 0, 3);

    const passes = await Promise.all([sweeper(RETENTION).runOnce(), sweeper(RETENTION).runOnce()]);

    // Each row is deleted by exactly one of them, whichever locked it first.
    expect(passes[0]!.idempotencyRecords + passes[1]!.idempotencyRecords).toBe(n);
    expect(await left("idempotency_records", "request_id", old)).toEqual([]);
    expect(await left("idempotency_records", "request_id", keep)).toEqual([...keep].sort());
    expect(MAX_BATCHES * RETENTION_BATCH).toBeGreaterThan(n); // one pass could have done it alone
  });

  it("runs as the operator with its reason: the service role alone, in a tenant's scope, cannot reach another tenant's rows", async () => {
    const [a, b] = [await tenant(), await tenant()];
    const [theirs] = await records(b, RETENTION + HOUR);
    // What the pass does, without the operator role: in tenant a's scope, b's rows are invisible.
    const deleted = await scopes.tenant(a)(async (em) =>
      (await em.execute<{ affectedRows: number }>(`delete from idempotency_records where create_time < now() - interval '1 hour'`, [], "run")).affectedRows,
    );
    expect(deleted).toBe(0);
    expect(await left("idempotency_records", "request_id", [theirs!])).toEqual([theirs]);

    expect((await sweeper(RETENTION).runOnce()).idempotencyRecords).toBe(1);
    expect(await left("idempotency_records", "request_id", [theirs!])).toEqual([]);
  });

  it("stop() ends the timer's passes and waits for the one under way", async () => {
    const t = await tenant();
    const old = await records(t, RETENTION + HOUR, 5);
    const s = sweeper(RETENTION);
    s.start(0); // the timer's first pass is due at once
    const running = s.runOnce(); // a pass under way when stop() is called
    await s.stop();
    expect(await left("idempotency_records", "request_id", old)).toEqual([]); // stop() waited for it
    expect((await running).idempotencyRecords).toBe(5);
    // The timer's pass, due after stop(), did not run: nothing else is deleted from now on.
    const later = await records(t, RETENTION + HOUR);
    await new Promise((resolve) => setImmediate(resolve));
    expect(await left("idempotency_records", "request_id", later)).toEqual(later);
  });
});

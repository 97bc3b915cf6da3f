// Transactions bound to a row-level-security scope (see the defence_in_depth migration and
// docs/architecture.md, "Tenant isolation in the database"). Every query of the service on a
// tenant table runs inside one of these:
// - tenant(id): set_config('app.tenant_id', id, true): the policies admit that tenant's rows only;
// - operator(reason): set_config('role', 'customerms_operator', true) plus the reason: the few
//   paths that span tenants (API key lookup, TenantService, CORS origins). Explicit and named.
// - tenantCall(statement): one statement calling a database function that sets the tenant the
//   same way itself (customer_by_id), in the statement's own implicit transaction.
// All settings are transaction-scoped (`true`): a pooled connection never carries a tenant or
// the operator role into the next transaction, and a query outside these transactions fails.
import type { EntityManager, MikroORM, Transaction } from "@mikro-orm/postgresql";
import pg from "pg";
import { AppError } from "../errors.js";
import { literal as lit, preparedName, renderAll, type QueryResult, type Statement, type TransactionClient } from "./sql.js";
import { WarmPool, type KnexPoolClient, type PoolConnection } from "./warm-pool.js";

/** Runs `work` in one transaction of a fixed scope; commits on success, rolls back on error. */
export type Transact = <T>(work: (em: EntityManager) => Promise<T>) => Promise<T>;

export const APP_ROLE = "customerms_app";
export const OPERATOR_ROLE = "customerms_operator";

/** Why an operator transaction reads across tenants: named in code, visible in pg_stat_activity. */
export type OperatorReason =
  | "authenticate-api-key"
  | "record-api-key-use"
  | "cors-origins"
  | `TenantService/${string}`
  | `maintenance/${string}`;

/** What is left of a call's deadline (epoch ms) in ms (undefined without one); throws once it
 * passed. The deadline middleware sets `call.deadline` to the earlier of the client's deadline and
 * the server's ceiling, and handlers pass it when they open a transaction: what is left becomes a
 * transaction-local statement_timeout, so the database stops working (and releases its locks)
 * when the caller has stopped waiting. (Passed explicitly, not through AsyncLocalStorage: an
 * enabled AsyncLocalStorage puts a hook on every promise of the process, measured at ~0.2 µs
 * each, a few percent of a GetCustomer.) */
function remainingMs(deadline: number | undefined): number | undefined {
  if (deadline === undefined) return undefined;
  const left = Math.floor(deadline - Date.now());
  if (left <= 0) throw new AppError("DEADLINE_EXCEEDED", "the call's deadline passed", { reason: "DEADLINE_EXCEEDED" });
  return left;
}

/**
 * The last step inside a transaction: refuse to commit once the call's deadline has passed.
 * statement_timeout bounds each statement, not the transaction: a call whose client gave up while
 * it ran (the fault suite's 50 ms deadline on a locked row) could otherwise still commit a later,
 * quick statement after the caller was told DEADLINE_EXCEEDED. Every write of the service is an
 * immediate statement (em.insert, nativeUpdate, execute; no unit-of-work persist), so nothing is
 * left for MikroORM's own flush at commit: no explicit flush here (it cost a change-set pass per
 * transaction, measured on CreateCustomer).
 */
function beforeCommit<T>(result: T, deadline: number | undefined): T {
  remainingMs(deadline);
  return result;
}

/** Statements a transaction's work asked to run last, with the commit (see deferUntilCommit), and
 * what it asked to run after the commit (afterCommit), kept on the transaction's own
 * EntityManager fork (a WeakMap entry per transaction cost the garbage collector more than the
 * property). */
const DEFERRED = Symbol("customerms.deferred");
interface Deferred {
  readonly statements: string[];
  /** Adds a statement to what is sent with the begin (transactionContext beginWith). */
  beginWith?: (statement: string) => void;
  /** By key: the same follow-up asked twice runs once. Made on first use. */
  after?: Map<string, () => Promise<void>>;
  /** The errors of the guarded statements (deferGuardedUntilCommit), by tag. Made on first use. */
  guards?: Map<string, () => Error>;
}
type WithDeferred = EntityManager & { [DEFERRED]?: Deferred };
const deferredOf = (em: EntityManager) => (em as WithDeferred)[DEFERRED];

/**
 * Sends `statement` (complete SQL: values quoted with sql.ts `literal`, no parameters) at the end
 * of `em`'s transaction (a Scopes transaction), together with the commit in ONE simple-protocol
 * round trip, after the work and in the order deferred. For the writes that nothing in the
 * transaction reads back (the stored idempotent response, the event insert): every write saves
 * round trips. A failing statement aborts the transaction: the commit never runs and the error is
 * the call's.
 */
export function deferUntilCommit(em: EntityManager, statement: string): void {
  const deferred = deferredOf(em);
  if (deferred === undefined) throw new Error("deferUntilCommit: not inside a Scopes transaction");
  deferred.statements.push(statement);
}

/**
 * Sends `statement` (complete SQL) right after `em`'s transaction's begin, in the same round trip
 * as whatever the transaction sends first (its first statement, or its commit): before anything
 * of the work, at no round trip of its own. For a write that must come first and whose result
 * nothing reads: the idempotency claim. Its failure is the failure of the query that carries it
 * (the work's first statement, or the commit), converted like any other. Refused once the
 * transaction has sent anything.
 */
export function sendWithBegin(em: EntityManager, statement: string): void {
  const beginWith = deferredOf(em)?.beginWith;
  if (beginWith === undefined) throw new Error("sendWithBegin: not inside a Scopes transaction");
  beginWith(statement);
}

/** deferUntilCommit for a db/sql.ts statement, its values in place (sql.ts render). */
export function deferStatementUntilCommit(em: EntityManager, s: Statement, values: readonly unknown[]): void {
  deferUntilCommit(em, renderAll(s, values));
}

/**
 * deferStatementUntilCommit for a write that must change exactly one row, such as an update
 * conditioned on the version read (optimistic locking): sent with the commit inside a guard
 * (migration expect_rows) that fails the transaction when it changed none, so that the
 * transaction rejects with `missed()` and nothing after it runs. `s` is an insert, update or
 * delete without a RETURNING clause. Saves the round trip a write sent on its own (to read its row
 * count) would cost.
 */
export function deferGuardedUntilCommit(em: EntityManager, s: Statement, values: readonly unknown[], missed: () => Error): void {
  const deferred = deferredOf(em);
  if (deferred === undefined) throw new Error("deferGuardedUntilCommit: not inside a Scopes transaction");
  const text = renderAll(s, values);
  const guards = (deferred.guards ??= new Map());
  const tag = `guard-${guards.size + 1}`;
  guards.set(tag, missed);
  deferred.statements.push(`with guarded as (${text} returning 1) select customerms_expect_rows((select count(*) from guarded), 1, '${tag}')`);
}

/** The error a guard (deferGuardedUntilCommit) asked for, when `err` is that guard's failure. */
function guardMissed(deferred: Deferred, err: unknown): Error | undefined {
  const e = err as { code?: unknown; detail?: unknown };
  return e.code === GUARD_SQLSTATE && typeof e.detail === "string" ? deferred.guards?.get(e.detail)?.() : undefined;
}
const GUARD_SQLSTATE = "CMS01";

/**
 * Runs `then` once `em`'s transaction has committed and given its connection back, before the
 * transaction's promise resolves (so the call waits for it); never after a rollback. One per `key`
 * per transaction. For the event numbering (events/event.sequencer.ts), which must see the commit.
 * `then` should not reject: the transaction is committed whatever it does (a rejection would still
 * become the call's error).
 */
export function afterCommit(em: EntityManager, key: string, then: () => Promise<void>): void {
  const deferred = deferredOf(em);
  if (deferred === undefined) throw new Error("afterCommit: not inside a Scopes transaction");
  (deferred.after ??= new Map()).set(key, then);
}

/** Sends the statements deferred so far now, for the rare work that must see or change what it
 * deferred (erasure blanks the notes of every event of the customer, the pending one included). */
export async function flushDeferred(em: EntityManager): Promise<void> {
  const deferred = deferredOf(em);
  if (deferred === undefined) return;
  const statements = deferred.statements.splice(0);
  if (statements.length === 0) return;
  const text = statements.join(";\n");
  const trx = em.getTransactionContext<{ client: KnexClient }>()!;
  const connection = await trx.client.acquireConnection();
  await connection.query(text).catch((err: unknown) => {
    throw err instanceof pg.DatabaseError ? em.getDriver().convertException(err) : err;
  });
}

/** `deadline`: the call's (epoch ms), see remainingMs; omitted, no statement_timeout is set. */
export interface Scopes {
  tenant(tenantId: string, deadline?: number): Transact;
  operator(reason: OperatorReason, deadline?: number): Transact;
  /**
   * One statement, read-only, in ONE round trip: `begin read only; <settings>; <statement>;
   * commit` as a single simple-protocol query, values quoted with sql.ts `literal` (`lit`). For
   * the hottest reads (GetCustomer, ListCustomers): a tenant() transaction costs three. Returns
   * the statement's rows.
   */
  tenantRead<R>(tenantId: string, statement: (lit: (value: string) => string) => string, deadline?: number): Promise<R[]>;
  /**
   * One prepared statement calling a database function that opens the tenant scope itself
   * (customer_by_id: `set_config('app.tenant_id', ..., true)`, local to the statement's own
   * transaction, then the read): ONE round trip, no begin/commit, nothing parsed or planned per
   * call (GetCustomer). The function's LAST parameter is its lock_timeout: this appends what is
   * left of `deadline` in ms ('' without one). Returns the statement's rows.
   */
  tenantCall<R>(statement: Statement, values: readonly unknown[], deadline?: number): Promise<R[]>;
  /** Connections kept checked out between statements (db/warm-pool.ts): idle, though the pool
   * counts them as used. */
  warmConnections(): number;
  /** Returns the kept connections to the pool and keeps none from now on (before closing it;
   * destroying the pool does this too). */
  close(): void;
}

interface PooledClient {
  query(text: string): Promise<Array<{ rows: unknown[]; command: string }> | { rows: unknown[]; command: string }>;
  query(config: { name: string; text: string; values: unknown[] }): Promise<{ rows: unknown[] }>;
}

/** The pool's client as knex exposes it (acquire/release a pg connection), and the knex client
 * a transaction's queries run on. */
interface KnexClient {
  acquireConnection(): Promise<PooledClient>;
  releaseConnection(c: PooledClient): Promise<void>;
}

/** What the transaction itself controls of its begin. */
interface OpeningControl {
  /** Adds a statement to what is sent with the begin (sendWithBegin). */
  beginWith(statement: string): void;
  /** True while nothing was sent and nothing added to the begin: the transaction did nothing. */
  untouched(): boolean;
}

/**
 * What MikroORM and knex need of a transaction context, bound to a connection whose transaction
 * WE open: a knex client that always hands out that connection and never releases it (what
 * knex's own makeTxClient does, without building a whole knex instance per transaction).
 * `builder.transacting(ctx)` only reads `ctx.client` (checking `client.transacting`), and
 * db/sql.ts acquires the same connection through it.
 *
 * The `begin` (`opening`: begin plus the scope's settings) is sent lazily: with the first
 * statement when that statement can travel as SQL text (openWith, db/sql.ts), alone before the
 * first other use of the connection (acquireConnection), or with the commit when the work sent
 * nothing. Every transaction saves one round trip: the socket writes to PostgreSQL were about a
 * quarter of the service's busy CPU in UpdateCustomer's profile (docs/architecture.md §6).
 * Statements queue on the one connection in the order they are sent, so the begin always runs
 * first.
 */
function transactionContext(
  client: KnexClient,
  connection: PooledClient,
  opening: string,
): { context: Transaction; tx: TransactionClient & OpeningControl } {
  const txClient = Object.create(client) as KnexClient & TransactionClient & OpeningControl & { transacting: boolean };
  let pending: string | undefined = opening;
  txClient.untouched = () => pending === opening;
  let begun: Promise<unknown> | undefined;
  txClient.transacting = true;
  txClient.unopened = () => pending !== undefined;
  txClient.beginWith = (statement) => {
    if (pending === undefined) throw new Error("sendWithBegin: the transaction has already sent a statement");
    pending += `;\n${statement}`;
  };
  txClient.openWith = (first) => {
    if (pending === undefined) throw new Error("openWith: the transaction has already begun");
    const sent = connection.query(`${pending};\n${first}`) as Promise<QueryResult[]>;
    pending = undefined;
    // Its failure is openWith's caller's; a later statement then fails on the aborted transaction.
    begun = sent.then(noop, noop);
    return sent.then((results) => results[results.length - 1]!);
  };
  txClient.acquireConnection = async () => {
    if (pending !== undefined) {
      begun = connection.query(pending);
      pending = undefined;
    }
    await begun;
    return connection;
  };
  txClient.releaseConnection = () => Promise.resolve();
  return { context: { client: txClient } as unknown as Transaction, tx: txClient };
}
const noop = () => undefined;

export function createScopes(orm: MikroORM): Scopes {
  let knex: KnexClient | undefined;
  const knexClient = (): KnexClient =>
    (knex ??= (orm.em.getConnection() as unknown as { getKnex(): { client: KnexClient } }).getKnex().client);
  const warm = new WarmPool<PooledClient & PoolConnection>(knexClient as () => KnexClient & KnexPoolClient<PooledClient>);
  /** `work` on a connection of the pool (a warm one when there is one, see warm-pool.ts), given
   * back whatever happens: kept warm after a success, to knex's pool after a failure. */
  const pooled = async <T>(work: (connection: PooledClient, client: KnexClient) => Promise<T>): Promise<T> => {
    const client = knexClient();
    const connection = await warm.acquire();
    let healthy = false;
    try {
      const result = await work(connection, client);
      healthy = true;
      return result;
    } finally {
      warm.release(connection, healthy);
    }
  };
  /**
   * One transaction on a pooled connection: `begin; <settings>` as one simple-protocol query
   * (knex + MikroORM's transactional took two round trips, and rebuilt a knex instance per
   * transaction: measured at about a tenth of CreateCustomer's CPU), sent with the first statement
   * (see transactionContext); then `work` with an EntityManager bound to it (MikroORM queries and
   * db/sql.ts statements both run on this connection), then commit; on any error, rollback.
   * Errors of our own begin/commit are converted as MikroORM converts its own, so errors.ts sees
   * the same exceptions as before.
   */
  const transaction = async <T>(settings: () => string, deadline: number | undefined, work: (em: EntityManager) => Promise<T>): Promise<T> => {
    const deferred: Deferred = { statements: [] };
    const result = await pooled(async (connection, client) => {
      // Only our own begin/commit raise raw driver errors: work's are converted where they happen.
      const convert = (err: unknown) => (err instanceof pg.DatabaseError ? orm.em.getDriver().convertException(err) : err);
      const { context, tx } = transactionContext(client, connection, `begin; ${settings()}`);
      // Once `begin` is sent, a failure leaves a transaction to roll back (a failed setting aborts it).
      let committed = false;
      try {
        const em = orm.em.fork();
        em.setTransactionContext(context);
        deferred.beginWith = tx.beginWith;
        (em as WithDeferred)[DEFERRED] = deferred;
        const result = beforeCommit(await work(em), deadline);
        const statements = deferred.statements.splice(0);
        // Work that sent, deferred and added nothing has nothing to commit: no round trip at all.
        if (tx.untouched() && statements.length === 0) return result;
        const end = `${statements.length === 0 ? "" : `${statements.join(";\n")};\n`}commit`;
        const done = tx.unopened() ? await tx.openWith(end) : await connection.query(end);
        committed = true;
        // PostgreSQL answers `commit` in a transaction that an earlier statement aborted with
        // ROLLBACK, not an error: work that swallowed a failed statement must not pass for written.
        if ((Array.isArray(done) ? done[done.length - 1]! : done).command !== "COMMIT") {
          throw new Error("the transaction was rolled back at commit: one of its statements had failed");
        }
        return result;
      } catch (err) {
        // A failed statement leaves the transaction open and aborted: close it before reuse.
        if (!committed && !tx.unopened()) await connection.query("rollback").catch(() => undefined);
        throw guardMissed(deferred, err) ?? convert(err);
      }
    });
    // Committed, and the connection is back: a follow-up may need one of its own.
    if (deferred.after !== undefined) await Promise.all(Array.from(deferred.after.values(), (then) => then()));
    return result;
  };
  const timeoutLiteral = (deadline: number | undefined) => {
    const left = remainingMs(deadline);
    return left === undefined ? "" : `, set_config('statement_timeout', ${lit(String(left))}, true)`;
  };
  return {
    warmConnections: () => warm.size,
    close: () => warm.close(),
    async tenantRead<R>(tenantId: string, statement: (lit: (value: string) => string) => string, deadline?: number): Promise<R[]> {
      const text = `begin read only; select set_config('app.tenant_id', ${lit(tenantId)}, true)${timeoutLiteral(deadline)}; ${statement(lit)}; commit`;
      return pooled(async (connection) => {
        try {
          const results = await connection.query(text);
          if (!Array.isArray(results) || results.length !== 4) throw new Error("tenantRead: expected exactly one statement");
          return results[2]!.rows as R[];
        } catch (err) {
          // A failed statement leaves the transaction open and aborted: close it before reuse.
          await connection.query("rollback").catch(() => undefined);
          throw err;
        }
      });
    },
    async tenantCall<R>(statement: Statement, values: readonly unknown[], deadline?: number): Promise<R[]> {
      const left = remainingMs(deadline);
      // Outside `begin`, the statement is its own transaction: nothing to roll back on failure.
      const result = await pooled((connection) =>
        connection.query({ name: preparedName(connection, statement), text: statement.text, values: [...values, left === undefined ? "" : String(left)] }),
      );
      return result.rows as R[];
    },
    tenant: (tenantId, deadline) => (work) =>
      transaction(() => `select set_config('app.tenant_id', ${lit(tenantId)}, true)${timeoutLiteral(deadline)}`, deadline, work),
    operator: (reason, deadline) => (work) =>
      transaction(
        () =>
          `select set_config('role', '${OPERATOR_ROLE}', true), set_config('app.operator_reason', ${lit(reason)}, true), ` +
          `set_config('application_name', ${lit(`customerms operator: ${reason}`.slice(0, 63))}, true)${timeoutLiteral(deadline)}`,
        deadline,
        work,
      ),
  };
}

// Hand-written statements on the connection of the current transaction, for the hottest writes.
// MikroORM's em.insert / nativeUpdate / execute build every statement through its query builder
// and knex (metadata walk, key renaming, value quoting, knex raw + formatter): on CreateCustomer
// that was about a third of the service's CPU per call (docs/performance.md). Statements sent
// here go to the pg connection the transaction already holds, as prepared statements (parsed once
// per connection), inside the same transaction, row-level-security scope and statement_timeout.
// Errors are converted by MikroORM's own exception converter, so a unique violation is still a
// UniqueConstraintViolationException with its constraint name, whichever path raised it.
import type { EntityManager } from "@mikro-orm/postgresql";
import pg from "pg";

/** A named statement: the name identifies the prepared statement on each connection. */
export interface Statement {
  readonly name: string;
  readonly text: string;
}

const names = new Map<string, string>();

/** Declares a statement once (module level); the same name with another text is a bug. */
export function statement(name: string, text: string): Statement {
  const known = names.get(name);
  if (known !== undefined && known !== text) throw new Error(`statement ${name} is declared twice with different texts`);
  names.set(name, text);
  return { name: `cms_${name}`, text };
}

/**
 * The statement's name on `connection`: its own name plus the process and a number per
 * connection. PostgreSQL keeps prepared statements per connection, but the embedded PGlite serves
 * every connection, of every process, from ONE session (pglite-socket): two connections preparing
 * the same name collided ("prepared statement … already exists"), and concurrent calls on
 * `npm start`'s defaults failed with INTERNAL. The names are kept on the connection, made once
 * per statement.
 */
const NAMES = Symbol("customerms.statementNames");
let connectionsNamed = 0;
export function preparedName(connection: object, s: Statement): string {
  const c = connection as { [NAMES]?: { readonly id: number; readonly names: Map<string, string> } };
  const own = (c[NAMES] ??= { id: ++connectionsNamed, names: new Map() });
  let name = own.names.get(s.name);
  if (name === undefined) own.names.set(s.name, (name = `${s.name}_${process.pid}_${own.id}`));
  return name;
}

interface PgConnection {
  query(config: { name: string; text: string; values: unknown[] }): Promise<{ rows: unknown[]; rowCount: number | null }>;
}
interface TransactionContext {
  client: { acquireConnection(): Promise<PgConnection> };
}

export interface Sql {
  /** The rows the statement returns. */
  rows<R>(statement: Statement, values: readonly unknown[]): Promise<R[]>;
  /** The number of rows the statement affected. */
  run(statement: Statement, values: readonly unknown[]): Promise<number>;
}

/**
 * The statements of `em`'s transaction (em as given to a Transact's work). Values go as
 * parameters: pass JSON columns as JSON.stringify'd text (pg would turn a JS array into a
 * PostgreSQL array) and timestamps as Date.
 */
export function sqlOf(em: EntityManager): Sql {
  const trx = em.getTransactionContext<TransactionContext>();
  if (trx === undefined) throw new Error("sqlOf: not inside a transaction");
  const exec = async (s: Statement, values: readonly unknown[]) => {
    const connection = await trx.client.acquireConnection();
    try {
      return await connection.query({ name: preparedName(connection, s), text: s.text, values: values as unknown[] });
    } catch (err) {
      throw em.getDriver().convertException(err as Error);
    }
  };
  return {
    rows: async <R>(s: Statement, values: readonly unknown[]) => (await exec(s, values)).rows as R[],
    run: async (s: Statement, values: readonly unknown[]) => (await exec(s, values)).rowCount ?? 0,
  };
}

/**
 * A string as an SQL literal: exactly pg.escapeLiteral's result. pg builds it one character at
 * a time (a cons string per character: about 1 KB of garbage for a UUID, and a GetCustomer
 * quotes four values); a value without a quote or a backslash — every UUID, number and
 * timestamp we quote — needs only the surrounding quotes.
 */
export function literal(value: string): string {
  return typeof value === "string" && !value.includes("'") && !value.includes("\\") ? `'${value}'` : pg.escapeLiteral(value);
}

// Hand-written statements on the connection of the current transaction, for the hottest writes.
// MikroORM's em.insert / nativeUpdate / execute build every statement through its query builder
// and knex (metadata walk, key renaming, value quoting, knex raw + formatter): on CreateCustomer
// that was about a third of the service's CPU per call (docs/performance.md). Statements sent
// here go to the pg connection the transaction already holds, as prepared statements (parsed once
// per connection), inside the same transaction, row-level-security scope and statement_timeout —
// but for the transaction's first statement, which travels as text with the transaction's begin.
// Errors are converted by MikroORM's own exception converter, so a unique violation is still a
// UniqueConstraintViolationException with its constraint name, whichever path raised it.
import type { EntityManager } from "@mikro-orm/postgresql";
import pg from "pg";

/** A named statement: the name identifies the prepared statement on each connection. */
export interface Statement {
  readonly name: string;
  readonly text: string;
  /** The text split at its parameters: text, parameter index (0-based), text, … (see render). */
  readonly parts: ReadonlyArray<string | number>;
}

const names = new Map<string, string>();

/** Declares a statement once (module level); the same name with another text is a bug. Its text
 * has no string literals, so that every `$n` in it is a parameter (see render). */
export function statement(name: string, text: string): Statement {
  const known = names.get(name);
  if (known !== undefined && known !== text) throw new Error(`statement ${name} is declared twice with different texts`);
  if (text.includes("'") || text.includes("$$")) throw new Error(`statement ${name}: no string literals in a statement, pass the values as parameters`);
  names.set(name, text);
  const parts = text.split(/\$(\d+)/).map((part, i) => (i % 2 === 1 ? Number(part) - 1 : part));
  return { name: `cms_${name}`, text, parts };
}

/** A parameter's value as an SQL literal with the value pg would send for it (untyped, like a
 * parameter, so PostgreSQL infers the same type); undefined for a value this does not render
 * (arrays, objects: pg's own conversions are not repeated here). */
function valueLiteral(v: unknown): string | undefined {
  if (v === null || v === undefined) return "null";
  switch (typeof v) {
    case "string":
      return literal(v);
    case "number":
    case "bigint":
    case "boolean":
      return `'${String(v)}'`;
  }
  // As an instant in UTC (pg sends local time with its offset: the same instant for the
  // timestamptz columns, the only timestamps of the schema).
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? undefined : `'${v.toISOString()}'`;
  if (Buffer.isBuffer(v)) return byteaLiteral(v);
  return undefined;
}

/** render for values that are known to render (strings, numbers, dates, bytes); throws otherwise. */
export function renderAll(s: Statement, values: readonly unknown[]): string {
  const text = render(s, values);
  if (text === undefined) throw new Error(`a value of ${s.name} cannot be rendered as SQL text`);
  return text;
}

/**
 * The statement with its values in place, as one SQL text (for the simple protocol, which sends a
 * transaction's first statement with its begin: scope.ts transactionContext), or undefined when
 * a value cannot be rendered.
 */
export function render(s: Statement, values: readonly unknown[]): string | undefined {
  let text = "";
  for (const part of s.parts) {
    if (typeof part === "string") {
      text += part;
      continue;
    }
    const value = valueLiteral(values[part]);
    if (value === undefined) return undefined;
    text += value;
  }
  return text;
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

export type QueryResult = { rows: unknown[]; rowCount?: number | null; command: string };

/** What a Scopes transaction's client (scope.ts transactionContext) offers besides the connection. */
export interface TransactionClient {
  /** True until the transaction's `begin` has been sent (nothing has run yet). */
  unopened(): boolean;
  /** Sends `first` (complete SQL: values quoted, no parameters) as the transaction's first
   * statement, in ONE simple-protocol round trip with its `begin`; only while unopened(). Resolves
   * to `first`'s result. */
  openWith(first: string): Promise<QueryResult>;
}

interface PgConnection {
  query(config: { name: string; text: string; values: unknown[] }): Promise<{ rows: unknown[]; rowCount?: number | null }>;
}
interface TransactionContext {
  client: { acquireConnection(): Promise<PgConnection> } & Partial<TransactionClient>;
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
    try {
      // The transaction's first statement goes with its begin, as text: one round trip less.
      const text = trx.client.unopened?.() ? render(s, values) : undefined;
      if (text !== undefined) return await trx.client.openWith!(text);
      const connection = await trx.client.acquireConnection();
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

/** Bytes as an SQL bytea literal in hex format: exactly what pg.escapeLiteral makes of
 * `\x<hex>`, but built at once (escapeLiteral goes a character at a time: a stored response is
 * kilobytes of hex, and its escaping was ≈ 1 % of CreateCustomer's CPU in the bench's profile). */
export function byteaLiteral(bytes: Buffer): string {
  return `E'\\\\x${bytes.toString("hex")}'`;
}

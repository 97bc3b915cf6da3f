// A database of the test run's server for one test file alone, migrated as the run's is, dropped
// afterwards: for tests that must not share their rows with the other files' servers (a master
// key rotation rewraps every tenant's key; the event numbering's sweep numbers every tenant's
// unnumbered events, whoever wrote them).
import { randomBytes } from "node:crypto";
import pg from "pg";
import { inject } from "vitest";
import { migrateDatabase } from "../../src/db/database.js";

export interface OwnDatabase {
  /** The schema owner's URL (migrations, the tests' own queries). */
  readonly ownerUrl: string;
  /** The service role's URL (row-level security applies). */
  readonly serviceUrl: string;
  drop(): Promise<void>;
}

async function asAdmin(text: string): Promise<void> {
  const admin = new pg.Client({ connectionString: inject("adminDatabaseUrl") });
  await admin.connect();
  try {
    await admin.query(text);
  } finally {
    await admin.end();
  }
}

/** `prefix`: letters and underscores, names the database in pg_stat_activity. */
export async function createOwnDatabase(prefix: string): Promise<OwnDatabase> {
  const name = `${prefix}_${randomBytes(6).toString("hex")}`;
  await asAdmin(`CREATE DATABASE ${name}`);
  const on = (url: string) => {
    const u = new URL(url);
    u.pathname = `/${name}`;
    return u.toString();
  };
  const own = { ownerUrl: on(inject("databaseUrl")), serviceUrl: on(inject("serviceDatabaseUrl")), drop: () => asAdmin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) };
  try {
    await migrateDatabase(own.ownerUrl);
  } catch (err) {
    await own.drop();
    throw err;
  }
  return own;
}

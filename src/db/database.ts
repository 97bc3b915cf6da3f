// Opens the database the configuration asks for: DATABASE_URL, or the embedded PGlite.
//
// Two roles (docs/architecture.md, "Tenant isolation in the database"): migrations run on the
// schema owner's connection (DATABASE_MIGRATION_URL, default DATABASE_URL) in their own short-lived
// pool; the service's pool then connects with DATABASE_URL, which must be a member of
// customerms_app that neither owns the tables nor bypasses row-level security. In production a
// role that would bypass RLS is refused at start; in development (a superuser DATABASE_URL, the
// embedded PGlite) every pooled connection drops to customerms_app with SET ROLE instead, so the
// same policies apply everywhere.
import type { MikroORM } from "@mikro-orm/postgresql";
import type { Config } from "../config.js";
import { startEmbeddedPostgres, type EmbeddedPostgres } from "./embedded.js";
import { migrateUp, openOrm, type OrmLog } from "./orm.js";
import { APP_ROLE, createScopes, type Scopes } from "./scope.js";

export interface Database {
  readonly orm: MikroORM;
  /** Transactions bound to a tenant or to the operator role (row-level security). */
  readonly scopes: Scopes;
  /** "postgresql" for DATABASE_URL, "embedded" for PGlite in the data directory. */
  readonly kind: "postgresql" | "embedded";
  /** The connection URL (for connections outside the pool, e.g. LISTEN). */
  readonly url: string;
  /** The login role and how it is held to row-level security. */
  readonly role: { readonly name: string; readonly via: "login" | "set-role" };
  /** Migrations applied while opening (empty when none were pending or migrate was off). */
  readonly migrationsApplied: readonly string[];
  /** Answers when the database answers `select 1` within timeoutMs; rejects otherwise. */
  ping(timeoutMs: number): Promise<void>;
  close(): Promise<void>;
}

export class DatabaseRoleError extends Error {
  override name = "DatabaseRoleError";
}

interface RoleFacts {
  name: string;
  superuser: boolean;
  bypassrls: boolean;
  owner: boolean;
  member: boolean;
}

async function roleFacts(orm: MikroORM): Promise<RoleFacts> {
  const [row] = await orm.em.getConnection().execute<Array<RoleFacts>>(
    // MEMBER, not the role's own attributes: a role that may SET ROLE to a superuser, to a
    // BYPASSRLS role or to the tables' owner escapes the policies with one statement.
    `select r.rolname as name,
            exists (select 1 from pg_roles s where s.rolsuper and pg_has_role(current_user, s.oid, 'MEMBER')) as superuser,
            exists (select 1 from pg_roles b where b.rolbypassrls and pg_has_role(current_user, b.oid, 'MEMBER')) as bypassrls,
            exists (select 1 from pg_tables t where t.schemaname = current_schema() and pg_has_role(current_user, t.tableowner, 'MEMBER')) as owner,
            pg_has_role(current_user, ?, 'MEMBER') as member
       from pg_roles r where r.rolname = current_user`,
    [APP_ROLE],
  );
  return row!;
}

/** Applies pending migrations on `url` (the owner's connection) in a pool of its own. */
export async function migrateDatabase(url: string, log?: OrmLog): Promise<string[]> {
  const orm = await openOrm(url, 1, log);
  try {
    return await migrateUp(orm);
  } finally {
    await orm.close(true);
  }
}

export async function openDatabase(config: Config, log?: OrmLog, options: { migrate?: boolean } = {}): Promise<Database> {
  let embedded: EmbeddedPostgres | undefined;
  let url = config.databaseUrl;
  let migrationUrl = config.databaseMigrationUrl;
  if (url === undefined) {
    embedded = await startEmbeddedPostgres(config.dataDir, config.databasePoolMax);
    url = migrationUrl = embedded.url;
  }
  let orm: MikroORM | undefined;
  try {
    const migrationsApplied = options.migrate ? await migrateDatabase(migrationUrl ?? url, log) : [];
    orm = await openOrm(url, config.databasePoolMax, log);
    const facts = await roleFacts(orm);
    const bypasses = [facts.superuser && "a superuser", facts.bypassrls && "BYPASSRLS", facts.owner && "the owner of the tables"].filter(
      (x): x is string => typeof x === "string",
    );
    let via: "login" | "set-role" = "login";
    if (bypasses.length > 0) {
      if (config.env === "production") {
        throw new DatabaseRoleError(
          `DATABASE_URL connects as "${facts.name}", which is or can become ${bypasses.join(" and ")}: row-level security would not hold it. ` +
            `Connect as a role that is only a member of ${APP_ROLE} (see docs/operations.md), and give the owner's URL to DATABASE_MIGRATION_URL`,
        );
      }
      // Development: the same policies, by dropping every pooled connection to the app role.
      await orm.close(true);
      orm = await openOrm(url, config.databasePoolMax, log, `set role ${APP_ROLE}`);
      via = "set-role";
    } else if (!facts.member) {
      throw new DatabaseRoleError(`DATABASE_URL connects as "${facts.name}", which is not a member of ${APP_ROLE}: GRANT ${APP_ROLE} TO "${facts.name}"`);
    }
    const service = orm;
    const scopes = createScopes(service);
    return {
      orm: service,
      scopes,
      kind: embedded ? "embedded" : "postgresql",
      url,
      role: { name: facts.name, via },
      migrationsApplied,
      async ping(timeoutMs) {
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`database did not answer within ${timeoutMs} ms`)), timeoutMs);
        });
        try {
          await Promise.race([service.em.getConnection().execute("select 1"), timeout]);
        } finally {
          clearTimeout(timer);
        }
      },
      async close() {
        scopes.close();
        await service.close(true);
        await embedded?.close();
      },
    };
  } catch (err) {
    await orm?.close(true);
    await embedded?.close();
    throw err;
  }
}
